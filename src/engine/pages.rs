//! Paged listings: each listing a page at a time, in id order, from after a cursor.
//! "Id order" is the order of the ids' UTF-8 bytes (`str`'s `Ord`): `"B" < "a"`,
//! `"u10" < "u9"`, and no locale's collation.
//!
//! A page lists the entries whose ids come after the cursor (the previous page's last
//! id), so paging through a listing while it changes never skips or repeats an entry
//! that stays present the whole time: entries added or removed meanwhile may or may not
//! appear. Each page costs what the whole listing costs (it is built, then cut).

use super::*;

/// The most entries one page may hold (Sendbird caps its listings at 100).
pub const MAX_PAGE_LEN: usize = 1_000;

/// One page of a listing, in id order.
///
/// # Examples
///
/// ```
/// use mutegate::{Engine, MuteFor};
///
/// let engine = Engine::new();
/// engine.mute_members("r1", ["ann", "bob", "cat"], MuteFor::Forever)?;
/// let first = engine.muted_members_page("r1", None, 2)?;
/// assert_eq!(first.items.iter().map(|m| m.user.as_str()).collect::<Vec<_>>(), ["ann", "bob"]);
/// let rest = engine.muted_members_page("r1", first.next.as_deref(), 2)?;
/// assert_eq!(rest.items[0].user, "cat");
/// assert_eq!(rest.next, None); // the last page
/// # Ok::<(), mutegate::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Page<T> {
    /// The entries, ordered by id (by the ids' UTF-8 bytes: `"B" < "a" < "é"`).
    pub items: Vec<T>,
    /// The cursor of the next page (this page's last id); `None` on the last page.
    pub next: Option<String>,
}

/// Cuts the page after `after` (ids in `items` unique, any order) of at most `limit`.
pub(super) fn cut<T>(
    mut items: Vec<T>,
    id: impl Fn(&T) -> &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Page<T>, Error> {
    if limit == 0 || limit > MAX_PAGE_LEN {
        return Err(Error::PageLimit {
            limit,
            max: MAX_PAGE_LEN,
        });
    }
    if let Some(after) = after {
        items.retain(|x| id(x) > after);
    }
    items.sort_unstable_by(|a, b| id(a).cmp(id(b)));
    let more = items.len() > limit;
    items.truncate(limit);
    let next = more
        .then(|| items.last().map(|x| id(x).to_owned()))
        .flatten();
    Ok(Page { items, next })
}

impl Engine {
    /// [`muted_members`](Engine::muted_members) a page at a time: the members after
    /// `after` (a previous page's [`next`](Page::next)), at most `limit` of them.
    ///
    /// # Errors
    ///
    /// [`Error::PageLimit`] for a limit of 0 or over [`MAX_PAGE_LEN`].
    pub fn muted_members_page(
        &self,
        room: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<MutedMember>, Error> {
        cut(self.muted_members(room), |m| &m.user, after, limit)
    }

    /// [`allow_list`](Engine::allow_list) a page at a time.
    ///
    /// # Errors
    ///
    /// [`Error::PageLimit`] for a limit of 0 or over [`MAX_PAGE_LEN`].
    pub fn allow_list_page(
        &self,
        room: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<String>, Error> {
        cut(self.allow_list(room), |u| u, after, limit)
    }

    /// [`notification_settings`](Engine::notification_settings) a page at a time, by
    /// room id (the plain listing is oldest first; a page's order must not change
    /// under it).
    ///
    /// # Errors
    ///
    /// [`Error::PageLimit`] for a limit of 0 or over [`MAX_PAGE_LEN`].
    pub fn notification_settings_page(
        &self,
        user: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<NotifySetting>, Error> {
        cut(self.notification_settings(user), |s| &s.room, after, limit)
    }

    /// [`muted_rooms`](Engine::muted_rooms) a page at a time, by room id.
    ///
    /// # Errors
    ///
    /// [`Error::PageLimit`] for a limit of 0 or over [`MAX_PAGE_LEN`].
    pub fn muted_rooms_page(
        &self,
        user: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<String>, Error> {
        cut(self.muted_rooms(user), |r| r, after, limit)
    }
}
