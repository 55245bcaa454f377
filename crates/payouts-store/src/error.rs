//! Translating `DbErr` into the domain's [`StoreError`] at the edge.
//!
//! Messages carry the database's own explanation (a constraint name, a
//! missing table), never a connection string: URLs are not part of any
//! error produced after [`crate::SeaOrmStore::connect`].

use payouts_domain::StoreError;
use sea_orm::{DbErr, SqlErr};

/// Any backend failure, as `Unavailable`.
pub(crate) fn unavailable(err: &DbErr) -> StoreError {
    StoreError::Unavailable(format!("database error: {err}"))
}

/// A stored value that no longer decodes (a bug or a hand-edited row).
pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("stored {what} is unreadable: {detail}"))
}

/// True when the error is a unique-key violation.
pub(crate) fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// `NotFound` for `entity` `id`.
pub(crate) fn not_found(entity: &'static str, id: impl ToString) -> StoreError {
    StoreError::NotFound {
        entity,
        id: id.to_string(),
    }
}

/// `Conflict` for `entity` `id`: what was expected, what was found.
pub(crate) fn conflict(
    entity: &'static str,
    id: impl ToString,
    expected: &str,
    found: &str,
) -> StoreError {
    StoreError::Conflict {
        entity,
        id: id.to_string(),
        detail: format!("expected {expected}, found {found}"),
    }
}

/// `Duplicate` for `entity` `key`.
pub(crate) fn duplicate(entity: &'static str, key: impl ToString) -> StoreError {
    StoreError::Duplicate {
        entity,
        key: key.to_string(),
    }
}

/// Extension methods that translate `DbErr` results.
pub(crate) trait DbResultExt<T> {
    /// Every error is `Unavailable`.
    fn or_unavailable(self) -> Result<T, StoreError>;

    /// A unique violation is `Duplicate { entity, key }`; anything else `Unavailable`.
    fn or_duplicate(
        self,
        entity: &'static str,
        key: impl FnOnce() -> String,
    ) -> Result<T, StoreError>;
}

impl<T> DbResultExt<T> for Result<T, DbErr> {
    fn or_unavailable(self) -> Result<T, StoreError> {
        self.map_err(|e| unavailable(&e))
    }

    fn or_duplicate(
        self,
        entity: &'static str,
        key: impl FnOnce() -> String,
    ) -> Result<T, StoreError> {
        self.map_err(|e| {
            if is_unique_violation(&e) {
                duplicate(entity, key())
            } else {
                unavailable(&e)
            }
        })
    }
}
