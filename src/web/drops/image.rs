//! Product pictures for products that have no image of their own: a sneaker drawn as SVG in the
//! product's colours, so every card has a picture without bundling any.
//!
//! The colours come from the product's `color` ("yellow/blue": a yellow upper, blue accents);
//! words we do not know get a hue of their own from a hash, so different products still look
//! different. Only numbers and our own colour names reach the SVG, never the product's text.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use axum::Extension;
use cinder_read_models::drops::DropsReadModel;

/// Where the picture of product `id` is served.
pub fn path(id: &str) -> String {
    format!("/drops/products/{id}/image.svg")
}

/// `GET /drops/products/<id>/image.svg`.
pub async fn image(
    Extension(drops): Extension<DropsReadModel>,
    Path(id): Path<String>,
) -> Response {
    match drops.product(&id) {
        Ok(Some(product)) => (
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            sneaker(&product.color),
        )
            .into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// The drawing: a light backdrop, the upper in the first colour, sole and stripe in the second.
pub fn sneaker(color: &str) -> String {
    let mut words = color
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty());
    let first = words.next().unwrap_or("cinder");
    let second = words.next();
    let upper = paint(first);
    let accent = match second {
        Some(word) => paint(word),
        None => upper.turned(150),
    };
    let backdrop = upper.tint();
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 320 200" role="img">
<rect width="320" height="200" fill="{backdrop}"/>
<ellipse cx="165" cy="172" rx="128" ry="9" fill="#000" fill-opacity=".08"/>
<path d="M44 138 C40 112 56 96 80 93 L118 88 C132 70 150 61 172 63 L192 66 C204 92 232 106 262 112 C282 116 290 128 288 140 Z" fill="{upper}"/>
<path d="M118 88 C132 70 150 61 172 63 L192 66 C186 72 176 76 164 76 C146 76 130 82 118 88 Z" fill="#fff" fill-opacity=".35"/>
<path d="M92 128 C130 110 180 104 238 118 C196 116 150 122 104 138 Z" fill="{accent}"/>
<g stroke="#fff" stroke-width="4" stroke-linecap="round" stroke-opacity=".85">
<path d="M150 80 L160 92"/><path d="M164 76 L174 89"/><path d="M178 74 L187 86"/>
</g>
<path d="M38 140 L292 140 Q294 160 274 164 L62 164 Q38 162 38 140 Z" fill="#fff"/>
<path d="M38 152 L293 152 Q290 162 274 164 L62 164 Q42 163 38 152 Z" fill="{accent}"/>
</svg>"##
    )
}

/// A colour for `word`: ours if it names one, else a hue from its hash.
fn paint(word: &str) -> Hsl {
    let named = match word.to_ascii_lowercase().as_str() {
        "black" => Some(Hsl(220, 12, 18)),
        "white" => Some(Hsl(220, 10, 92)),
        "grey" | "gray" | "silver" => Some(Hsl(220, 8, 60)),
        "red" => Some(Hsl(356, 72, 50)),
        "orange" => Some(Hsl(24, 90, 52)),
        "yellow" => Some(Hsl(46, 95, 52)),
        "gold" => Some(Hsl(42, 80, 48)),
        "green" => Some(Hsl(140, 55, 40)),
        "teal" => Some(Hsl(178, 60, 38)),
        "blue" => Some(Hsl(214, 78, 48)),
        "navy" => Some(Hsl(222, 60, 28)),
        "purple" | "violet" => Some(Hsl(270, 55, 52)),
        "pink" => Some(Hsl(334, 75, 62)),
        "brown" => Some(Hsl(26, 45, 36)),
        _ => None,
    };
    named.unwrap_or_else(|| {
        // FNV-1a: stable across runs and nodes, unlike the standard library's hasher.
        let hash = word.bytes().fold(0x811c_9dc5u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        Hsl(hash % 360, 62, 48)
    })
}

/// A colour as hue (degrees), saturation and lightness (percent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hsl(u32, u32, u32);

impl Hsl {
    /// The colour across the wheel by `degrees`, for an accent that differs.
    fn turned(self, degrees: u32) -> Hsl {
        Hsl(
            (self.0 + degrees) % 360,
            self.1.max(40),
            self.2.clamp(35, 60),
        )
    }

    /// A very light version of the colour, for the backdrop.
    fn tint(self) -> Hsl {
        Hsl(self.0, self.1.min(60), 94)
    }
}

impl std::fmt::Display for Hsl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "hsl({}, {}%, {}%)", self.0, self.1, self.2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_colours_paint_the_upper_and_the_accent() {
        let svg = sneaker("yellow/blue");
        assert!(svg.contains(&format!("fill=\"{}\"", Hsl(46, 95, 52))));
        assert!(svg.contains(&format!("fill=\"{}\"", Hsl(214, 78, 48))));
    }

    #[test]
    fn unknown_words_get_a_stable_hue_and_no_text_reaches_the_svg() {
        let svg = sneaker("momentum <script>");
        assert_eq!(svg, sneaker("momentum <script>"));
        assert!(!svg.contains("momentum") && !svg.contains("script"));
        assert_ne!(sneaker("momentum"), sneaker("lagoon"));
    }
}
