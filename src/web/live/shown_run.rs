//! Which items of a numbered list a live page shows.
//!
//! A room's messages and a bookmark's comments are numbered 1, 2, 3 … with no gaps. A live page
//! shows a run of the newest of them: "load older" prepends the run before it, and each new item
//! is appended with a limit past which the page drops its oldest. The view keeps the same account
//! as the page (it holds no copy of the page, only the run's two ends), so that "load older"
//! continues from the oldest item the page still shows, not from one it has dropped, and the
//! control appears as soon as the page drops its first item, even in a list that had nothing
//! older when the page was rendered.

/// The oldest and newest ids of a run of a numbered list.
pub type Run = (u64, u64);

/// The run of a numbered list a page shows, and how many items it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShownRun {
    /// The oldest and newest ids shown; `None` while the list is empty.
    run: Option<Run>,
    /// The most items the page keeps: an append beyond drops the oldest.
    limit: usize,
    /// Whether anything was appended since the page was noted.
    appended: bool,
}

impl ShownRun {
    /// A page showing `oldest..=newest` (nothing if `None`), keeping at most `limit` items.
    pub fn page(run: Option<Run>, limit: usize) -> Self {
        Self {
            run,
            limit,
            appended: false,
        }
    }

    /// Whether anything was appended since the page was noted: a page that resumes from an
    /// older position, to which the view (noted with the latest page) replays what it missed,
    /// may then have dropped items the view cannot tell it had, and is sent its control.
    pub fn appended_any(&self) -> bool {
        self.appended
    }

    /// The limit the page's appends carry.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Where "load older" continues (the oldest item shown), if anything is older.
    pub fn older_than(&self) -> Option<u64> {
        self.run
            .map(|(oldest, _)| oldest)
            .filter(|oldest| *oldest > 1)
    }

    /// Where a "load older" pressed on the page continues: from the oldest item the page still
    /// shows, if anything is older; else from `rendered`, the value the control was rendered
    /// with (new items may have pushed that one out since). `None` if `rendered` is no id.
    pub fn older_than_or(&self, rendered: &str) -> Option<u64> {
        self.older_than().or_else(|| rendered.parse().ok())
    }

    /// Item `id` appended to the page. True if the page now has older items to load and had
    /// none before, so its "load older" control must be sent. An item the page already shows
    /// (a message both in a reply and in a broadcast) is updated in place and changes nothing.
    pub fn appended(&mut self, id: u64) -> bool {
        let had_older = self.older_than().is_some();
        self.appended = true;
        self.run = match self.run {
            None => Some((id, id)),
            Some((_, newest)) if id <= newest => return false,
            Some((oldest, _)) => {
                let first_kept = (id + 1).saturating_sub(self.limit as u64);
                Some((oldest.max(first_kept), id))
            }
        };
        !had_older && self.older_than().is_some()
    }

    /// `count` older items prepended, the oldest of them `oldest`: the page keeps them too.
    pub fn loaded(&mut self, oldest: u64, count: usize) {
        if let Some((_, newest)) = self.run {
            self.run = Some((oldest.min(newest), newest));
            self.limit += count;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_past_the_limit_move_where_older_continues_and_reveal_the_control_once() {
        // Ten items, all shown, a page of ten: nothing older.
        let mut shown = ShownRun::page(Some((1, 10)), 10);
        assert_eq!(shown.older_than(), None);
        assert!(shown.appended(11), "item 1 dropped: the control appears");
        assert_eq!(shown.older_than(), Some(2));
        assert!(!shown.appended(12), "it is there already");
        assert_eq!(shown.older_than(), Some(3));
        assert!(shown.appended_any());
        assert!(!ShownRun::page(Some((1, 10)), 10).appended_any());
        assert!(!shown.appended(12), "shown already: updated in place");
        assert_eq!(shown.older_than(), Some(3));
    }

    #[test]
    fn a_short_page_grows_to_its_limit_before_dropping() {
        // A page cut short by its byte budget: 3 items where 5 may be kept.
        let mut shown = ShownRun::page(Some((8, 10)), 5);
        shown.appended(11);
        shown.appended(12);
        assert_eq!(shown.older_than(), Some(8));
        shown.appended(13);
        assert_eq!(shown.older_than(), Some(9));
    }

    #[test]
    fn load_older_continues_from_the_page_before_the_rendered_value() {
        let mut shown = ShownRun::page(Some((1, 10)), 10);
        assert_eq!(shown.older_than_or("5"), Some(5));
        assert_eq!(shown.older_than_or("five"), None);
        shown.appended(11);
        assert_eq!(shown.older_than_or("5"), Some(2));
        assert_eq!(shown.older_than_or("five"), Some(2));
    }

    #[test]
    fn loading_older_keeps_them_and_continues_before_them() {
        let mut shown = ShownRun::page(Some((51, 100)), 50);
        shown.loaded(1, 50);
        assert_eq!(shown.older_than(), None);
        assert_eq!(shown.limit(), 100);
        shown.appended(101);
        assert_eq!(shown.older_than(), Some(2));
    }

    #[test]
    fn an_empty_list_starts_with_its_first_item() {
        let mut shown = ShownRun::page(None, 2);
        assert!(!shown.appended(1));
        assert!(!shown.appended(2));
        assert!(shown.appended(3));
        assert_eq!(shown.older_than(), Some(2));
        shown.loaded(1, 1);
        assert_eq!((shown.older_than(), shown.limit()), (None, 3));
    }
}
