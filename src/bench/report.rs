//! A scenario's results: a table for people, JSON for programs.

use std::time::Duration;

use serde_json::{json, Map, Value};

/// One measured figure.
#[derive(Debug, Clone)]
pub struct Row {
    pub metric: String,
    pub value: f64,
    pub unit: &'static str,
    /// The figure it is meant to reach, as text (`≥ 0.7`), if the issue names one.
    pub goal: Option<&'static str>,
}

/// The results of one scenario, with the settings it ran with.
#[derive(Debug, Clone)]
pub struct Report {
    pub scenario: &'static str,
    pub settings: Vec<(&'static str, String)>,
    pub rows: Vec<Row>,
}

impl Report {
    pub fn new(scenario: &'static str) -> Self {
        Self {
            scenario,
            settings: Vec::new(),
            rows: Vec::new(),
        }
    }

    pub fn setting(&mut self, name: &'static str, value: impl ToString) {
        self.settings.push((name, value.to_string()));
    }

    pub fn row(&mut self, metric: impl Into<String>, value: f64, unit: &'static str) {
        self.rows.push(Row {
            metric: metric.into(),
            value,
            unit,
            goal: None,
        });
    }

    pub fn row_with_goal(
        &mut self,
        metric: impl Into<String>,
        value: f64,
        unit: &'static str,
        goal: &'static str,
    ) {
        self.rows.push(Row {
            metric: metric.into(),
            value,
            unit,
            goal: Some(goal),
        });
    }

    /// Adds `<name> p50`, `p99` and `max` in milliseconds.
    pub fn latency(&mut self, name: &str, latency: &Latency, p99_goal: Option<&'static str>) {
        self.row(format!("{name} p50"), ms(latency.p50), "ms");
        let p99 = Row {
            metric: format!("{name} p99"),
            value: ms(latency.p99),
            unit: "ms",
            goal: p99_goal,
        };
        self.rows.push(p99);
        self.row(format!("{name} max"), ms(latency.max), "ms");
    }

    /// A Markdown table, as pasted into the README.
    pub fn table(&self) -> String {
        let settings = self
            .settings
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut out = format!("### {} ({settings})\n\n", self.scenario);
        out.push_str("| metric | value | unit | goal |\n| --- | ---: | --- | --- |\n");
        for row in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                row.metric,
                figure(row.value),
                row.unit,
                row.goal.unwrap_or("")
            ));
        }
        out
    }

    pub fn json(&self) -> String {
        let settings: Map<String, Value> = self
            .settings
            .iter()
            .map(|(name, value)| ((*name).to_owned(), json!(value)))
            .collect();
        let results: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                json!({
                    "metric": row.metric,
                    "value": row.value,
                    "unit": row.unit,
                    "goal": row.goal,
                })
            })
            .collect();
        let report = json!({
            "scenario": self.scenario,
            "cores": std::thread::available_parallelism().map(usize::from).unwrap_or(1),
            "settings": settings,
            "results": results,
        });
        serde_json::to_string_pretty(&report).unwrap_or_default()
    }
}

/// Three significant digits at most, and no trailing noise.
fn figure(value: f64) -> String {
    if value.abs() >= 100.0 || value == value.trunc() {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else if value.abs() >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Percentiles of a set of durations (nearest rank).
#[derive(Debug, Clone, Copy, Default)]
pub struct Latency {
    pub count: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Latency {
    pub fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let at = |q: f64| -> Duration {
            if samples.is_empty() {
                return Duration::ZERO;
            }
            let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            samples[rank - 1]
        };
        Self {
            count: samples.len(),
            p50: at(0.50),
            p99: at(0.99),
            max: samples.last().copied().unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples = (1..=200).map(Duration::from_millis).collect();
        let latency = Latency::of(samples);
        assert_eq!(latency.count, 200);
        assert_eq!(latency.p50, Duration::from_millis(100));
        assert_eq!(latency.p99, Duration::from_millis(198));
        assert_eq!(latency.max, Duration::from_millis(200));
        assert_eq!(Latency::of(Vec::new()).max, Duration::ZERO);
    }

    #[test]
    fn tables_show_goals_and_round_figures() {
        let mut report = Report::new("demo");
        report.setting("clients", 32);
        report.row_with_goal("ratio", 0.734, "×", "≥ 0.7");
        report.row("commands/s", 1234.56, "1/s");
        let table = report.table();
        assert!(table.contains("### demo (clients=32)"), "{table}");
        assert!(table.contains("| ratio | 0.734 | × | ≥ 0.7 |"), "{table}");
        assert!(table.contains("| commands/s | 1235 | 1/s |  |"), "{table}");
        let json: Value = serde_json::from_str(&report.json()).unwrap_or_default();
        assert_eq!(json["results"][0]["value"], json!(0.734));
        assert_eq!(json["settings"]["clients"], json!("32"));
    }
}
