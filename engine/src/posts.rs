//! Entries about no record: status messages (to everyone or a group), direct messages,
//! files shared in a group, and the feed preferences. Written through `feed::append`,
//! read through the feed's wall merge.

use std::collections::BTreeSet;

use crate::engine::{Engine, Tx};
use crate::entry::Mentions;
use crate::error::{Error, Result};
use crate::feed::{append, to_feed, FeedEntry};
use crate::ids::{FileId, GroupId, UserId};
use crate::page::{limit_of, Page, PageRequest};
use crate::records::{self, FileRec, PrefsRec, TimelineKind, TimelineRec};
use crate::state::Counter;
use crate::store;
use crate::validate;
use crate::walls::EntryMeta;

impl Engine {
    /// A group's entries (status messages, files, mentions of it): members only.
    pub fn group_feed(
        &self,
        user: UserId,
        group: GroupId,
        req: &PageRequest,
    ) -> Result<Page<FeedEntry>> {
        let st = self.shared.state.read();
        let g = st
            .groups
            .get(&group)
            .filter(|g| g.members.contains(&user.0));
        if g.is_none() {
            return Err(Error::not_found("group", group));
        }
        let empty = Vec::new();
        let w = st.feed.group_walls.get(&group).unwrap_or(&empty);
        let picked = self.merge_page(&st, &[w], req, &|_, _| true)?;
        drop(st);
        self.fetch(picked)
    }

    /// The direct messages `user` sent or received, optionally only those with `with`.
    pub fn messages(
        &self,
        user: UserId,
        with: Option<UserId>,
        req: &PageRequest,
    ) -> Result<Page<FeedEntry>> {
        let Some(other) = with else {
            let st = self.shared.state.read();
            let empty = Vec::new();
            let w = st.feed.walls.get(&user).unwrap_or(&empty);
            let keep = |_: u64, m: &EntryMeta| m.kind == TimelineKind::Message;
            let picked = self.merge_page(&st, &[w], req, &keep)?;
            drop(st);
            return self.fetch(picked);
        };
        // One conversation: the parties are inside the entries, so take the user's
        // messages below the cursor under the lock, then read them newest first without
        // it until the page is full. Costs the user's messages scanned, not the store.
        let limit = limit_of(req)?;
        let before = req
            .cursor
            .as_deref()
            .map(crate::feed::decode_cursor)
            .transpose()?
            .unwrap_or(u64::MAX);
        let candidates: Vec<u64> = {
            let st = self.shared.state.read();
            st.feed
                .walls
                .get(&user)
                .map(|w| {
                    w.iter()
                        .rev()
                        .copied()
                        .filter(|s| *s < before)
                        .filter(|s| {
                            st.feed
                                .meta(*s)
                                .is_some_and(|m| m.kind == TimelineKind::Message)
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut items = Vec::with_capacity(limit);
        let mut more = false;
        let mut entries = self.shared.store.entries();
        for seq in candidates {
            let Some(v) = entries.read(seq)? else {
                continue;
            };
            let r = records::decode::<TimelineRec>(&v)?;
            let author = r.author.unwrap_or(0);
            let ours = (author == user.0 && r.recipients.contains(&other.0))
                || (author == other.0 && r.recipients.contains(&user.0));
            if !ours {
                continue;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(to_feed(r));
        }
        let next_cursor = if more {
            items
                .last()
                .map(|e: &FeedEntry| crate::feed::encode_cursor(e.id.0))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// A status message: to everyone, or to a group the author belongs to.
    pub fn post(
        &self,
        author: UserId,
        text: String,
        group: Option<GroupId>,
        mentions: Mentions,
    ) -> Result<FeedEntry> {
        self.call(move |tx| {
            let text = validate::text_len("text", &text, 1, 20_000)?;
            if let Some(g) = group {
                member_of(tx, author, g)?;
            }
            crate::entry::check_mentions(tx, &mentions)?;
            let mut rec = crate::entry::blank(tx, None, TimelineKind::Status);
            rec.author = Some(author.0);
            rec.text = text;
            rec.group = group.map(|g| g.0);
            rec.audience = mentions.users.iter().map(|u| u.0).collect();
            rec.audience.sort_unstable();
            rec.audience.dedup();
            rec.mentions_users = mentions.users.iter().map(|u| u.0).collect();
            rec.mentions_groups = mentions.groups.iter().map(|g| g.0).collect();
            rec.mentions_roles = mentions.roles;
            Ok(to_feed(append(tx, rec)?))
        })
    }

    /// A direct message to users and/or the members of a group (resolved now). Only the
    /// sender and the recipients ever see it.
    pub fn send_message(
        &self,
        from: UserId,
        text: String,
        to_users: Vec<UserId>,
        to_group: Option<GroupId>,
    ) -> Result<FeedEntry> {
        self.call(move |tx| {
            let text = validate::text_len("text", &text, 1, 20_000)?;
            let mut recipients = BTreeSet::new();
            for (i, u) in to_users.iter().enumerate() {
                tx.state.active_user(*u, &format!("to_users[{i}]"))?;
                recipients.insert(u.0);
            }
            if let Some(g) = to_group {
                let group = member_of(tx, from, g)?;
                recipients.extend(group.iter().copied());
            }
            recipients.remove(&from.0);
            if recipients.is_empty() {
                return Err(Error::invalid(
                    "to_users",
                    "a message needs at least one recipient other than the sender",
                ));
            }
            let mut rec = crate::entry::blank(tx, None, TimelineKind::Message);
            rec.author = Some(from.0);
            rec.text = text;
            rec.group = to_group.map(|g| g.0);
            rec.recipients = recipients.iter().copied().collect();
            let mut audience = recipients;
            audience.insert(from.0);
            rec.audience = audience.into_iter().collect();
            Ok(to_feed(append(tx, rec)?))
        })
    }

    /// Shares a file in a group (members only); also a `file` entry on the group's wall.
    pub fn share_file(
        &self,
        author: UserId,
        group: GroupId,
        name: String,
        content_type: String,
        bytes: Vec<u8>,
    ) -> Result<FileInfo> {
        self.call(move |tx| {
            member_of(tx, author, group)?;
            let name = validate::text_len("name", &name, 1, 255)?;
            if bytes.len() > 8 << 20 {
                return Err(Error::invalid("body", "files are at most 8 MiB"));
            }
            let id = tx.state.alloc(Counter::File);
            let meta = FileRec {
                id,
                group: group.0,
                name: name.clone(),
                size: bytes.len() as u64,
                content_type,
                author: author.0,
                at: tx.now.0,
            };
            tx.batch.put(
                &store::id_key(store::FILE_META, id),
                records::encode(&meta)?,
            );
            tx.batch.put_file(id, &bytes);
            let mut rec = crate::entry::blank(tx, None, TimelineKind::File);
            rec.author = Some(author.0);
            rec.text = name;
            rec.group = Some(group.0);
            rec.file = Some(id);
            append(tx, rec)?;
            let info = FileInfo::from(&meta);
            tx.state.feed.files.insert(FileId(id), meta);
            Ok(info)
        })
    }

    /// A group file's metadata and bytes, for members only.
    pub fn file(&self, user: UserId, group: GroupId, file: FileId) -> Result<(FileInfo, Vec<u8>)> {
        let info = {
            let st = self.shared.state.read();
            let member = st
                .groups
                .get(&group)
                .is_some_and(|g| g.members.contains(&user.0));
            let f = st
                .feed
                .files
                .get(&file)
                .filter(|f| f.group == group.0 && member);
            f.map(FileInfo::from)
                .ok_or_else(|| Error::not_found("file", file))?
        };
        let bytes = self
            .shared
            .store
            .file_bytes(file.0, usize::try_from(info.size).unwrap_or(0))?
            .ok_or_else(|| Error::not_found("file", file))?;
        Ok((info, bytes))
    }

    /// Modules switched off in every feed.
    pub fn feed_preferences(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .shared
            .state
            .read()
            .feed
            .disabled
            .iter()
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// Switches modules off in every feed (the others on). Hidden entries stay stored and
    /// come back when their module is switched on again.
    pub fn set_feed_preferences(&self, disabled_modules: Vec<String>) -> Result<Vec<String>> {
        self.call(move |tx| {
            for (i, m) in disabled_modules.iter().enumerate() {
                if !tx.state.modules.contains_key(m) {
                    return Err(Error::invalid(
                        format!("disabled_modules[{i}]"),
                        format!("unknown module {m:?}"),
                    ));
                }
            }
            let mut v = disabled_modules;
            v.sort();
            v.dedup();
            tx.batch.put(
                store::PREFS,
                records::encode(&PrefsRec {
                    disabled_modules: v.clone(),
                })?,
            );
            tx.state.feed.disabled = v.iter().cloned().collect();
            Ok(v)
        })
    }
}

fn member_of(tx: &Tx<'_>, user: UserId, group: GroupId) -> Result<Vec<u64>> {
    match tx.state.groups.get(&group) {
        Some(g) if g.members.contains(&user.0) => Ok(g.members.clone()),
        _ => Err(Error::not_found("group", group)),
    }
}

/// A shared file's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct FileInfo {
    /// Its id.
    pub id: FileId,
    /// The group.
    pub group: GroupId,
    /// The file name.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// As uploaded.
    pub content_type: String,
}

impl From<&FileRec> for FileInfo {
    fn from(f: &FileRec) -> FileInfo {
        FileInfo {
            id: FileId(f.id),
            group: GroupId(f.group),
            name: f.name.clone(),
            size: f.size,
            content_type: f.content_type.clone(),
        }
    }
}
