//! Identifier newtypes. Every id is a positive integer assigned by the engine and never
//! reused, so an id seen in a feed or a log always names the same object.

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub u64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A user (a person or a gateway account).
    UserId
);
id_type!(
    /// A closed group of users.
    GroupId
);
id_type!(
    /// A Kanban board.
    BoardId
);
id_type!(
    /// A column (stage) of a board; unique across all boards.
    ColumnId
);
id_type!(
    /// An item (record) on a board.
    ItemId
);
id_type!(
    /// An activity (call, meeting, task, e-mail) on an item.
    ActivityId
);
id_type!(
    /// A timeline entry.
    EntryId
);
id_type!(
    /// An auto-follow rule.
    RuleId
);
id_type!(
    /// A background job (a rule applied to existing records).
    JobId
);
id_type!(
    /// A file shared in a group.
    FileId
);
