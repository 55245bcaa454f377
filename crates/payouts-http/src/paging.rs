//! Lists: `limit` (1 to 100, default 20) and `starting_after` (the last id
//! of the previous page) in; `{data, has_more}` out.

use payouts_domain::ports::{Page, PageRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::ApiError;

/// The default page size.
pub const DEFAULT_LIMIT: u32 = 20;
/// The largest page size.
pub const MAX_LIMIT: u32 = 100;

/// Paging parameters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1 to 100 (default 20).
    pub limit: Option<u32>,
    /// The id of the last object of the previous page.
    pub starting_after: Option<String>,
}

impl ListQuery {
    /// The checked page size.
    ///
    /// # Errors
    /// 400 `validation_error` outside 1..=100.
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(l) if (1..=MAX_LIMIT).contains(&l) => Ok(l),
            Some(_) => Err(ApiError::validation(
                "limit",
                format!("limit must be between 1 and {MAX_LIMIT}"),
            )),
        }
    }

    /// A store page request; `starting_after` must be a UUID.
    ///
    /// # Errors
    /// 400 `validation_error` for a bad limit or cursor.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let limit = self.limit()?;
        let after = self
            .starting_after
            .as_deref()
            .map(|s| {
                Uuid::parse_str(s).map_err(|_| {
                    ApiError::validation(
                        "starting_after",
                        "starting_after must be an id from a previous page",
                    )
                })
            })
            .transpose()?;
        Ok(PageRequest { limit, after })
    }
}

/// A page of a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct List<T> {
    /// The objects.
    pub data: Vec<T>,
    /// True when more objects follow `data`'s last.
    pub has_more: bool,
}

impl<T> List<T> {
    /// From a store page, mapping each row.
    pub fn from_page<U>(page: Page<U>, f: impl FnMut(U) -> T) -> Self {
        List {
            data: page.data.into_iter().map(f).collect(),
            has_more: page.has_more,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked() {
        let q = |limit| ListQuery {
            limit,
            starting_after: None,
        };
        assert_eq!(q(None).limit().unwrap(), 20);
        assert_eq!(q(Some(100)).limit().unwrap(), 100);
        assert!(q(Some(0)).limit().is_err());
        assert!(q(Some(101)).limit().is_err());
        let bad = ListQuery {
            limit: None,
            starting_after: Some("nope".to_owned()),
        };
        assert!(bad.page().is_err());
    }
}
