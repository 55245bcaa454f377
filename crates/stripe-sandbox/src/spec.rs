//! Loading Stripe's OpenAPI document once and pre-indexing its operations.
//!
//! The 2.6 MB spec is parsed a single time at startup and shared behind an
//! `Arc`. Every operation's request schema and query parameters are pulled out
//! at load time and bucketed by (method, number of path segments) so that a
//! request is matched against a handful of templates instead of all 318 paths.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::validate::{OVERLAYS, SpecOverlay};

/// HTTP methods the Stripe API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `DELETE`
    Delete,
}

impl HttpMethod {
    /// Parses an upper-case method name; other methods are not part of the Stripe API.
    #[must_use]
    pub fn parse(method: &str) -> Option<Self> {
        match method {
            "GET" => Some(Self::Get),
            "POST" => Some(Self::Post),
            "DELETE" => Some(Self::Delete),
            _ => None,
        }
    }

    /// Upper-case name as sent on the wire.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Delete => "DELETE",
        }
    }
}

/// Failure to load the spec.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("cannot read spec {path}: {source}")]
    Read {
        /// Path that was tried.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("spec is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON has no `paths` object.
    #[error("spec has no `paths` object")]
    NoPaths,
    /// No spec path was given and none was found near the repository.
    #[error(
        "could not find shared/stripe-openapi/spec3.json; pass --spec or set STRIPE_SANDBOX_SPEC"
    )]
    NotFound,
}

/// A query parameter of an operation (`in: query`).
#[derive(Debug)]
pub struct QueryParam {
    /// Parameter name (top-level key, e.g. `created`).
    pub name: String,
    /// Whether the spec marks it required.
    pub required: bool,
    /// Its schema (may hold `$ref`s, resolved lazily).
    pub schema: Value,
}

/// One operation of the spec, pre-extracted for validation.
#[derive(Debug)]
pub struct Operation {
    /// Method of the operation.
    pub method: HttpMethod,
    /// Path template exactly as in the spec, e.g. `/v1/transfers/{id}/reversals`.
    pub template: String,
    /// `application/x-www-form-urlencoded` request schema, overlays applied.
    pub body_schema: Option<Value>,
    /// Query parameters.
    pub query_params: Vec<QueryParam>,
    /// Drift overlays that apply to this operation.
    pub overlays: Vec<&'static SpecOverlay>,
}

#[derive(Debug)]
enum Segment {
    Literal(String),
    Param(String),
}

#[derive(Debug)]
struct Route {
    segments: Vec<Segment>,
    literal_count: usize,
    op: Arc<Operation>,
}

/// A matched request: the operation plus the values of its `{param}` segments.
#[derive(Debug, Clone)]
pub struct RouteMatch {
    /// The matched operation.
    pub op: Arc<Operation>,
    /// Path parameters in template order, e.g. `[("id", "tr_123")]`.
    pub path_params: Vec<(String, String)>,
}

impl RouteMatch {
    /// Value of the named path parameter.
    #[must_use]
    pub fn param(&self, name: &str) -> Option<&str> {
        self.path_params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The parsed spec with its operation index.
#[derive(Debug)]
pub struct Spec {
    root: Value,
    routes: HashMap<(HttpMethod, usize), Vec<Route>>,
    operation_count: usize,
}

impl Spec {
    /// Reads and indexes the spec at `path`.
    ///
    /// # Errors
    /// [`SpecError`] when the file is unreadable or not an OpenAPI document.
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let bytes = std::fs::read(path).map_err(|source| SpecError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_slice(&bytes)
    }

    /// Parses and indexes a spec held in memory.
    ///
    /// # Errors
    /// [`SpecError`] when the bytes are not an OpenAPI document.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, SpecError> {
        let root: Value = serde_json::from_slice(bytes)?;
        let paths = root
            .get("paths")
            .and_then(Value::as_object)
            .ok_or(SpecError::NoPaths)?;
        let mut routes: HashMap<(HttpMethod, usize), Vec<Route>> = HashMap::new();
        let mut operation_count = 0;
        for (template, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            for (method_name, op) in item {
                let Some(method) = HttpMethod::parse(&method_name.to_ascii_uppercase()) else {
                    continue;
                };
                let operation = build_operation(method, template, op);
                let segments: Vec<Segment> = split_path(template)
                    .map(|s| {
                        if s.starts_with('{') && s.ends_with('}') {
                            Segment::Param(s.trim_matches(|c| c == '{' || c == '}').to_owned())
                        } else {
                            Segment::Literal(s.to_owned())
                        }
                    })
                    .collect();
                let literal_count = segments
                    .iter()
                    .filter(|s| matches!(s, Segment::Literal(_)))
                    .count();
                routes
                    .entry((method, segments.len()))
                    .or_default()
                    .push(Route {
                        segments,
                        literal_count,
                        op: Arc::new(operation),
                    });
                operation_count += 1;
            }
        }
        // Most specific template first: `/v1/accounts/{a}/login_links` beats
        // `/v1/accounts/{a}/{b}`-style templates.
        for bucket in routes.values_mut() {
            bucket.sort_by_key(|r| std::cmp::Reverse(r.literal_count));
        }
        Ok(Self {
            root,
            routes,
            operation_count,
        })
    }

    /// Number of indexed operations.
    #[must_use]
    pub fn operation_count(&self) -> usize {
        self.operation_count
    }

    /// Finds the operation for `method` and a request path (no query string).
    #[must_use]
    pub fn match_route(&self, method: HttpMethod, path: &str) -> Option<RouteMatch> {
        let parts: Vec<&str> = split_path(path).collect();
        let bucket = self.routes.get(&(method, parts.len()))?;
        'routes: for route in bucket {
            let mut params = Vec::new();
            for (seg, part) in route.segments.iter().zip(parts.iter()) {
                match seg {
                    Segment::Literal(l) if l == part => {}
                    Segment::Literal(_) => continue 'routes,
                    Segment::Param(name) => {
                        if part.is_empty() {
                            continue 'routes;
                        }
                        params.push((name.clone(), (*part).to_owned()));
                    }
                }
            }
            return Some(RouteMatch {
                op: Arc::clone(&route.op),
                path_params: params,
            });
        }
        None
    }

    /// Follows `$ref` pointers (`#/components/schemas/...`) until a concrete schema.
    #[must_use]
    pub fn resolve<'a>(&'a self, mut schema: &'a Value) -> &'a Value {
        // A bounded loop guards against a cyclic `$ref` chain.
        for _ in 0..16 {
            let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
                return schema;
            };
            match reference
                .strip_prefix('#')
                .and_then(|ptr| self.root.pointer(ptr))
            {
                Some(next) => schema = next,
                None => return schema,
            }
        }
        schema
    }

    /// Finds the default spec location: `STRIPE_SANDBOX_SPEC`, then
    /// `shared/stripe-openapi/spec3.json` next to or inside an ancestor of the
    /// current directory or of this crate's manifest directory.
    ///
    /// # Errors
    /// [`SpecError::NotFound`] when nothing exists at any candidate path.
    pub fn default_path() -> Result<PathBuf, SpecError> {
        if let Some(p) = std::env::var_os("STRIPE_SANDBOX_SPEC") {
            return Ok(PathBuf::from(p));
        }
        let mut starts = Vec::new();
        if let Ok(cwd) = std::env::current_dir() {
            starts.push(cwd);
        }
        starts.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        for start in starts {
            for ancestor in start.ancestors() {
                let candidates = [
                    ancestor.join("../shared/stripe-openapi/spec3.json"),
                    ancestor.join("shared/stripe-openapi/spec3.json"),
                ];
                if let Some(found) = candidates.into_iter().find(|c| c.is_file()) {
                    return Ok(found);
                }
            }
        }
        Err(SpecError::NotFound)
    }
}

fn split_path(path: &str) -> impl Iterator<Item = &str> {
    path.trim_matches('/').split('/')
}

fn build_operation(method: HttpMethod, template: &str, op: &Value) -> Operation {
    let mut body_schema = op
        .pointer("/requestBody/content/application~1x-www-form-urlencoded/schema")
        .cloned();
    let query_params = op
        .get("parameters")
        .and_then(Value::as_array)
        .map(|params| {
            params
                .iter()
                .filter(|p| p.get("in").and_then(Value::as_str) == Some("query"))
                .filter_map(|p| {
                    Some(QueryParam {
                        name: p.get("name")?.as_str()?.to_owned(),
                        required: p.get("required").and_then(Value::as_bool) == Some(true),
                        schema: p.get("schema").cloned().unwrap_or(Value::Null),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let overlays: Vec<&'static SpecOverlay> = OVERLAYS
        .iter()
        .filter(|o| o.method == method && o.path == template)
        .collect();
    if let Some(schema) = body_schema.as_mut() {
        for overlay in &overlays {
            (overlay.apply)(schema);
        }
    }
    Operation {
        method,
        template: template.to_owned(),
        body_schema,
        query_params,
        overlays,
    }
}
