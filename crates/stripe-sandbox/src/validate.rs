//! Decoding Stripe form bodies and validating them against the spec.
//!
//! Stripe clients send `application/x-www-form-urlencoded` bodies with
//! bracketed keys (`metadata[k]=v`, `items[0][price]=p`, `expand[]=x`). They are
//! decoded into a [`Raw`] tree first, then coerced and validated in a single
//! walk guided by the operation's schema: the schema decides whether `a[0]` is
//! an array element or a map key, and whether `"12"` is an integer or a string.
//!
//! Error codes follow Stripe: `parameter_unknown`, `parameter_missing`,
//! `parameter_invalid_integer`, `parameter_invalid_empty`,
//! `parameters_exclusive`. Where Stripe itself sends no code (an invalid
//! boolean, a bad enum value, a string that is too long, a scalar where a hash
//! is expected) the error carries no code either, only `param` and `message`.

use serde_json::{Map, Number, Value, json};

use crate::spec::{HttpMethod, Operation, Spec};

/// A request that does not satisfy the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// Stripe error code, when Stripe has one for this failure.
    pub code: Option<&'static str>,
    /// Offending parameter in bracket notation (`transfer_data[destination]`).
    pub param: Option<String>,
    /// Human-readable message in Stripe's wording.
    pub message: String,
}

impl ValidationError {
    fn new(code: Option<&'static str>, param: &str, message: String) -> Self {
        Self {
            code,
            param: Some(param.to_owned()),
            message,
        }
    }

    fn unknown(param: &str) -> Self {
        Self::new(
            Some("parameter_unknown"),
            param,
            format!("Received unknown parameter: {param}"),
        )
    }

    fn missing(param: &str) -> Self {
        Self::new(
            Some("parameter_missing"),
            param,
            format!("Missing required param: {param}."),
        )
    }

    fn empty(param: &str) -> Self {
        Self::new(
            Some("parameter_invalid_empty"),
            param,
            format!(
                "You passed an empty string for '{param}'. We assume empty values are an attempt to unset a parameter; however '{param}' cannot be unset. You should remove '{param}' from your request or supply a non-empty value."
            ),
        )
    }

    fn invalid(param: &str, what: &str) -> Self {
        Self::new(None, param, format!("Invalid {what}: {param}"))
    }
}

/// A decoded form body before the schema gives it types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Raw {
    /// A plain value.
    Leaf(String),
    /// Bracketed keys (`a[b]`, and `a[0]` before the schema says "array").
    Map(Vec<(String, Raw)>),
    /// Values appended with `a[]`.
    List(Vec<Raw>),
}

enum Seg {
    Key(String),
    Append,
}

/// Splits `a[b][]` into `a` and its bracket segments; malformed keys stay literal.
fn parse_key(key: &str) -> (String, Vec<Seg>) {
    let Some(open) = key.find('[') else {
        return (key.to_owned(), Vec::new());
    };
    let (name, mut rest) = key.split_at(open);
    let mut segs = Vec::new();
    while !rest.is_empty() {
        let Some(inner) = rest.strip_prefix('[') else {
            return (key.to_owned(), Vec::new());
        };
        let Some(close) = inner.find(']') else {
            return (key.to_owned(), Vec::new());
        };
        let (seg, after) = inner.split_at(close);
        segs.push(if seg.is_empty() {
            Seg::Append
        } else {
            Seg::Key(seg.to_owned())
        });
        rest = after.get(1..).unwrap_or("");
    }
    (name.to_owned(), segs)
}

fn fresh_for(seg: Option<&Seg>) -> Raw {
    match seg {
        None => Raw::Leaf(String::new()),
        Some(Seg::Key(_)) => Raw::Map(Vec::new()),
        Some(Seg::Append) => Raw::List(Vec::new()),
    }
}

fn insert(node: &mut Raw, segs: &[Seg], value: String, param: &str) -> Result<(), ValidationError> {
    let Some((first, rest)) = segs.split_first() else {
        *node = Raw::Leaf(value);
        return Ok(());
    };
    match first {
        Seg::Key(k) => {
            let Raw::Map(entries) = node else {
                return Err(ValidationError::invalid(param, "hash"));
            };
            let child_param = join(param, k);
            if let Some((_, child)) = entries.iter_mut().find(|(ek, _)| ek == k) {
                return insert(child, rest, value, &child_param);
            }
            let mut child = fresh_for(rest.first());
            insert(&mut child, rest, value, &child_param)?;
            entries.push((k.clone(), child));
            Ok(())
        }
        Seg::Append => {
            let Raw::List(items) = node else {
                return Err(ValidationError::invalid(param, "array"));
            };
            let mut child = fresh_for(rest.first());
            insert(&mut child, rest, value, &format!("{param}[]"))?;
            items.push(child);
            Ok(())
        }
    }
}

/// Decodes a form-encoded body or query string into a top-level [`Raw::Map`].
///
/// # Errors
/// A [`ValidationError`] when one key is used both as a scalar and as a hash.
pub fn decode_form(input: &[u8]) -> Result<Raw, ValidationError> {
    let mut root = Raw::Map(Vec::new());
    for (key, value) in form_urlencoded::parse(input) {
        let (name, segs) = parse_key(&key);
        let Raw::Map(entries) = &mut root else {
            continue;
        };
        if let Some((_, child)) = entries.iter_mut().find(|(k, _)| *k == name) {
            // A scalar followed by brackets (`metadata=&metadata[a]=b`) is a conflict.
            let conflict = matches!(
                (&*child, segs.first()),
                (Raw::Leaf(_), Some(_))
                    | (Raw::Map(_), Some(Seg::Append))
                    | (Raw::List(_), Some(Seg::Key(_)))
            );
            if conflict {
                return Err(ValidationError::invalid(&name, "hash"));
            }
            insert(child, &segs, value.into_owned(), &name)?;
        } else {
            let mut child = fresh_for(segs.first());
            insert(&mut child, &segs, value.into_owned(), &name)?;
            entries.push((name, child));
        }
    }
    Ok(root)
}

fn join(param: &str, key: &str) -> String {
    if param.is_empty() {
        key.to_owned()
    } else {
        format!("{param}[{key}]")
    }
}

fn raw_to_value(raw: &Raw) -> Value {
    match raw {
        Raw::Leaf(s) => Value::String(s.clone()),
        Raw::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), raw_to_value(v)))
                .collect(),
        ),
        Raw::List(items) => Value::Array(items.iter().map(raw_to_value).collect()),
    }
}

fn schema_type(schema: &Value) -> Option<&str> {
    schema.get("type").and_then(Value::as_str)
}

/// `{"enum": [""]}` is Stripe's way of saying "send an empty string to unset".
fn allows_empty(schema: &Value) -> bool {
    schema
        .get("enum")
        .and_then(Value::as_array)
        .is_some_and(|e| e.iter().any(|v| v.as_str() == Some("")))
}

fn numeric_keys(entries: &[(String, Raw)]) -> Option<Vec<(usize, &Raw)>> {
    let mut out = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        out.push((k.parse::<usize>().ok()?, v));
    }
    out.sort_by_key(|(i, _)| *i);
    Some(out)
}

fn shape_fits(raw: &Raw, schema: &Value) -> bool {
    match (raw, schema_type(schema)) {
        (_, None) => true,
        (Raw::Map(entries), Some(t)) => {
            t == "object" || (t == "array" && numeric_keys(entries).is_some())
        }
        (Raw::List(_), Some(t)) => t == "array",
        (Raw::Leaf(_), Some(t)) => t != "object" && t != "array",
    }
}

impl Spec {
    /// Coerces a decoded value to the schema's types and validates it.
    ///
    /// # Errors
    /// The first [`ValidationError`] found, with `param` in bracket notation.
    pub fn coerce(&self, raw: &Raw, schema: &Value, param: &str) -> Result<Value, ValidationError> {
        let schema = self.resolve(schema);
        if let Some(variants) = schema.get("anyOf").and_then(Value::as_array) {
            return self.coerce_any_of(raw, variants, param);
        }
        match schema_type(schema) {
            Some("object") => self.coerce_object(raw, schema, param),
            Some("array") => self.coerce_array(raw, schema, param),
            Some("integer") => coerce_integer(raw, param),
            Some("number") => coerce_number(raw, param),
            Some("boolean") => coerce_boolean(raw, param),
            Some("string") => coerce_string(raw, schema, param),
            _ if schema.get("properties").is_some() => self.coerce_object(raw, schema, param),
            _ => Ok(raw_to_value(raw)),
        }
    }

    fn coerce_any_of(
        &self,
        raw: &Raw,
        variants: &[Value],
        param: &str,
    ) -> Result<Value, ValidationError> {
        if matches!(raw, Raw::Leaf(s) if s.is_empty()) {
            if variants.iter().any(|v| allows_empty(self.resolve(v))) {
                return Ok(Value::String(String::new()));
            }
            return Err(ValidationError::empty(param));
        }
        let mut first_error = None;
        for variant in variants {
            let variant = self.resolve(variant);
            if !shape_fits(raw, variant)
                || allows_empty(variant)
                    && variant
                        .get("enum")
                        .and_then(Value::as_array)
                        .is_some_and(|e| e.len() == 1)
            {
                continue;
            }
            match self.coerce(raw, variant, param) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| {
            let what = match raw {
                Raw::Map(_) => "hash",
                Raw::List(_) => "array",
                Raw::Leaf(_) => "value",
            };
            ValidationError::invalid(param, what)
        }))
    }

    fn coerce_object(
        &self,
        raw: &Raw,
        schema: &Value,
        param: &str,
    ) -> Result<Value, ValidationError> {
        let entries = match raw {
            Raw::Map(entries) => entries,
            Raw::Leaf(s) if s.is_empty() => return Err(ValidationError::empty(param)),
            Raw::Leaf(_) | Raw::List(_) => return Err(ValidationError::invalid(param, "hash")),
        };
        let properties = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties");
        // Stripe rejects unknown keys in nested hashes even where the spec
        // omits `additionalProperties`, as long as it lists `properties`.
        let closed = match additional {
            Some(Value::Bool(allowed)) => !allowed,
            Some(_) => false,
            None => properties.is_some(),
        };
        let additional_schema = additional.filter(|a| a.is_object());
        let mut out = Map::with_capacity(entries.len());
        for (key, child) in entries {
            let child_param = join(param, key);
            let sub = properties
                .and_then(|p| p.get(key.as_str()))
                .or(additional_schema);
            let value = match sub {
                Some(sub) => self.coerce(child, sub, &child_param)?,
                None if closed => return Err(ValidationError::unknown(&child_param)),
                None => raw_to_value(child),
            };
            out.insert(key.clone(), value);
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                match out.get(name) {
                    None => return Err(ValidationError::missing(&join(param, name))),
                    Some(Value::String(s)) if s.is_empty() => {
                        return Err(ValidationError::empty(&join(param, name)));
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(Value::Object(out))
    }

    fn coerce_array(
        &self,
        raw: &Raw,
        schema: &Value,
        param: &str,
    ) -> Result<Value, ValidationError> {
        let empty = Value::Object(Map::new());
        let items_schema = schema.get("items").unwrap_or(&empty);
        let items: Vec<&Raw> = match raw {
            Raw::List(items) => items.iter().collect(),
            Raw::Map(entries) => numeric_keys(entries)
                .ok_or_else(|| ValidationError::invalid(param, "array"))?
                .into_iter()
                .map(|(_, v)| v)
                .collect(),
            Raw::Leaf(s) if s.is_empty() => return Err(ValidationError::empty(param)),
            Raw::Leaf(_) => return Err(ValidationError::invalid(param, "array")),
        };
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| self.coerce(item, items_schema, &format!("{param}[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array)
    }

    /// Validates a form body for `op`, returning the typed parameters.
    ///
    /// # Errors
    /// A [`ValidationError`] for the first violation.
    pub fn validate_body(&self, op: &Operation, body: &[u8]) -> Result<Value, ValidationError> {
        let raw = decode_form(body)?;
        let value = match &op.body_schema {
            Some(schema) => self.coerce(&raw, schema, "")?,
            None => match &raw {
                Raw::Map(entries) if entries.is_empty() => Value::Object(Map::new()),
                Raw::Map(entries) => {
                    let first = entries.first().map(|(k, _)| k.as_str()).unwrap_or_default();
                    return Err(ValidationError::unknown(first));
                }
                Raw::Leaf(_) | Raw::List(_) => Value::Object(Map::new()),
            },
        };
        for overlay in &op.overlays {
            (overlay.check)(&value)?;
        }
        Ok(value)
    }

    /// Validates a query string against `op`'s `in: query` parameters
    /// (including `style: deepObject` ones such as `created[gte]`).
    ///
    /// # Errors
    /// A [`ValidationError`] for the first violation.
    pub fn validate_query(&self, op: &Operation, query: &str) -> Result<Value, ValidationError> {
        let Raw::Map(entries) = decode_form(query.as_bytes())? else {
            return Ok(Value::Object(Map::new()));
        };
        let mut out = Map::with_capacity(entries.len());
        for (name, raw) in &entries {
            let Some(param) = op.query_params.iter().find(|p| p.name == *name) else {
                return Err(ValidationError::unknown(name));
            };
            out.insert(name.clone(), self.coerce(raw, &param.schema, name)?);
        }
        if let Some(missing) = op
            .query_params
            .iter()
            .find(|p| p.required && !out.contains_key(&p.name))
        {
            return Err(ValidationError::missing(&missing.name));
        }
        Ok(Value::Object(out))
    }
}

fn leaf<'a>(raw: &'a Raw, param: &str, what: &str) -> Result<&'a str, ValidationError> {
    match raw {
        Raw::Leaf(s) if s.is_empty() => Err(ValidationError::empty(param)),
        Raw::Leaf(s) => Ok(s),
        Raw::Map(_) | Raw::List(_) => Err(ValidationError::invalid(param, what)),
    }
}

fn coerce_integer(raw: &Raw, param: &str) -> Result<Value, ValidationError> {
    let s = leaf(raw, param, "integer").map_err(|mut e| {
        if e.code.is_none() {
            e.code = Some("parameter_invalid_integer");
        }
        e
    })?;
    s.parse::<i64>().map(Value::from).map_err(|_| {
        ValidationError::new(
            Some("parameter_invalid_integer"),
            param,
            format!("Invalid integer: {s}"),
        )
    })
}

fn coerce_number(raw: &Raw, param: &str) -> Result<Value, ValidationError> {
    let s = leaf(raw, param, "decimal")?;
    // Only plain decimal syntax: Stripe rejects exponents and `NaN`.
    let plain = !s.is_empty()
        && s.chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_digit() || c == '.' || (i == 0 && c == '-'));
    match serde_json::from_str::<Number>(s) {
        Ok(n) if plain => Ok(Value::Number(n)),
        _ => Err(ValidationError::new(
            None,
            param,
            format!("Invalid decimal: {s}"),
        )),
    }
}

fn coerce_boolean(raw: &Raw, param: &str) -> Result<Value, ValidationError> {
    match leaf(raw, param, "boolean")? {
        "true" => Ok(Value::Bool(true)),
        "false" => Ok(Value::Bool(false)),
        other => Err(ValidationError::new(
            None,
            param,
            format!("Invalid boolean: {other}"),
        )),
    }
}

fn coerce_string(raw: &Raw, schema: &Value, param: &str) -> Result<Value, ValidationError> {
    let s = match raw {
        Raw::Leaf(s) => s,
        Raw::Map(_) | Raw::List(_) => return Err(ValidationError::invalid(param, "string")),
    };
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && u64::try_from(s.chars().count()).unwrap_or(u64::MAX) > max
    {
        return Err(ValidationError::new(
            None,
            param,
            format!("Invalid string: {param} must be at most {max} characters long"),
        ));
    }
    let bypass = schema
        .get("x-stripeBypassValidation")
        .and_then(Value::as_bool)
        == Some(true);
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !bypass
        && !allowed.iter().any(|a| a.as_str() == Some(s.as_str()))
    {
        if s.is_empty() {
            return Err(ValidationError::empty(param));
        }
        let names: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
        return Err(ValidationError::new(
            None,
            param,
            format!("Invalid {param}: must be one of {}", names.join(", ")),
        ));
    }
    Ok(Value::String(s.clone()))
}

/// One known change Stripe made to a resource after the 2023-08-16 spec.
///
/// Overlays are deliberately narrow: each names the operation it patches and
/// the single change it allows, so that nothing else gets looser.
#[derive(Debug)]
pub struct SpecOverlay {
    /// Short identifier.
    pub name: &'static str,
    /// Resource the change belongs to.
    pub resource: &'static str,
    /// What changed, and when.
    pub change: &'static str,
    /// Method of the patched operation.
    pub method: HttpMethod,
    /// Path template of the patched operation.
    pub path: &'static str,
    /// Patches the operation's body schema once at load time.
    pub apply: fn(&mut Value),
    /// Cross-field rule checked after schema validation.
    pub check: fn(&Value) -> Result<(), ValidationError>,
}

/// Every post-2023 change the validator knows about.
pub static OVERLAYS: &[SpecOverlay] = &[SpecOverlay {
    name: "promotion_code_promotion_param",
    resource: "promotion_code",
    change: "since 2025 clients send `promotion[type]=coupon&promotion[coupon]=…` instead of `coupon=…` on create",
    method: HttpMethod::Post,
    path: "/v1/promotion_codes",
    apply: promotion_apply,
    check: promotion_check,
}];

fn promotion_apply(schema: &mut Value) {
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert(
            "promotion".to_owned(),
            json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "type": {"type": "string", "enum": ["coupon"]},
                    "coupon": {"type": "string", "maxLength": 5000}
                },
                "required": ["type"]
            }),
        );
    }
    if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) {
        required.retain(|r| r.as_str() != Some("coupon"));
    }
}

fn promotion_check(params: &Value) -> Result<(), ValidationError> {
    let old = params.get("coupon").is_some();
    match params.get("promotion") {
        Some(promotion) if old => {
            let _ = promotion;
            Err(ValidationError::new(
                Some("parameters_exclusive"),
                "promotion",
                "You may only specify one of these parameters: coupon, promotion.".to_owned(),
            ))
        }
        Some(promotion) if promotion.get("coupon").is_none() => {
            Err(ValidationError::missing("promotion[coupon]"))
        }
        Some(_) => Ok(()),
        None if old => Ok(()),
        None => Err(ValidationError::missing("coupon")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    fn spec() -> &'static Spec {
        static SPEC: OnceLock<Spec> = OnceLock::new();
        SPEC.get_or_init(|| Spec::load(&Spec::default_path().unwrap()).unwrap())
    }

    fn body(method: HttpMethod, path: &str, form: &str) -> Result<Value, ValidationError> {
        let m = spec().match_route(method, path).expect("route");
        spec().validate_body(&m.op, form.as_bytes())
    }

    fn post(path: &str, form: &str) -> Result<Value, ValidationError> {
        body(HttpMethod::Post, path, form)
    }

    #[test]
    fn decodes_nested_brackets_and_arrays() {
        let raw = decode_form(b"a[b][c]=1&l[]=x&l[]=y&m[0]=p").unwrap();
        let v = raw_to_value(&raw);
        assert_eq!(
            v,
            json!({"a": {"b": {"c": "1"}}, "l": ["x", "y"], "m": {"0": "p"}})
        );
    }

    #[test]
    fn decode_rejects_scalar_then_hash() {
        let err = decode_form(b"metadata=&metadata[a]=b").unwrap_err();
        assert_eq!(err.param.as_deref(), Some("metadata"));
    }

    #[test]
    fn routes_match_templates_and_prefer_literals() {
        let m = spec()
            .match_route(HttpMethod::Post, "/v1/accounts/acct_1/login_links")
            .unwrap();
        assert_eq!(m.op.template, "/v1/accounts/{account}/login_links");
        assert_eq!(m.param("account"), Some("acct_1"));
        let m = spec()
            .match_route(HttpMethod::Get, "/v1/transfers/tr_1/reversals")
            .unwrap();
        assert_eq!(m.op.template, "/v1/transfers/{id}/reversals");
        assert!(spec().match_route(HttpMethod::Get, "/v1/nope").is_none());
        assert!(
            spec()
                .match_route(HttpMethod::Delete, "/v1/transfers")
                .is_none()
        );
        assert!(spec().operation_count() > 400);
    }

    #[test]
    fn valid_transfer_is_typed() {
        let v = post(
            "/v1/transfers",
            "amount=1000&currency=usd&destination=acct_1&metadata[item_id]=it_1&transfer_group=g1&expand[]=destination",
        )
        .unwrap();
        assert_eq!(v["amount"], json!(1000));
        assert_eq!(v["metadata"], json!({"item_id": "it_1"}));
        assert_eq!(v["expand"], json!(["destination"]));
    }

    #[test]
    fn unknown_parameter() {
        let e = post(
            "/v1/transfers",
            "amount=1&currency=usd&destination=a&bogus=1",
        )
        .unwrap_err();
        assert_eq!(e.code, Some("parameter_unknown"));
        assert_eq!(e.param.as_deref(), Some("bogus"));
    }

    #[test]
    fn missing_required() {
        let e = post("/v1/transfers", "amount=1&destination=acct_1").unwrap_err();
        assert_eq!(e.code, Some("parameter_missing"));
        assert_eq!(e.param.as_deref(), Some("currency"));
    }

    #[test]
    fn invalid_integer() {
        let e = post("/v1/transfers", "amount=abc&currency=usd&destination=a").unwrap_err();
        assert_eq!(e.code, Some("parameter_invalid_integer"));
        assert_eq!(e.param.as_deref(), Some("amount"));
    }

    #[test]
    fn nested_unknown_uses_brackets() {
        let e = post(
            "/v1/payment_intents",
            "amount=100&currency=usd&transfer_data[destination]=acct_1&transfer_data[bogus]=x",
        )
        .unwrap_err();
        assert_eq!(e.code, Some("parameter_unknown"));
        assert_eq!(e.param.as_deref(), Some("transfer_data[bogus]"));
        let e = post(
            "/v1/payment_intents",
            "amount=100&currency=usd&transfer_data[amount]=5",
        )
        .unwrap_err();
        assert_eq!(e.code, Some("parameter_missing"));
        assert_eq!(e.param.as_deref(), Some("transfer_data[destination]"));
    }

    #[test]
    fn enums_booleans_and_max_length() {
        let e = post("/v1/refunds", "charge=ch_1&reason=bored").unwrap_err();
        assert_eq!(e.param.as_deref(), Some("reason"));
        assert!(e.message.contains("requested_by_customer"));
        // `x-stripeBypassValidation` enums are open-ended on Stripe's side too.
        post(
            "/v1/account_links",
            "account=acct_1&type=account_future_kind",
        )
        .unwrap();
        let e = post("/v1/refunds", "charge=ch_1&reverse_transfer=maybe").unwrap_err();
        assert_eq!(e.param.as_deref(), Some("reverse_transfer"));
        let long = "x".repeat(5001);
        let e = post(
            "/v1/transfers",
            &format!("currency=usd&destination=a&description={long}"),
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("description"));
    }

    #[test]
    fn empty_strings_unset_only_where_allowed() {
        // `metadata` on reversals is anyOf [hash, enum [""]]: empty unsets it.
        let v = post("/v1/transfers/tr_1/reversals", "metadata=").unwrap();
        assert_eq!(v["metadata"], json!(""));
        let e = post("/v1/transfers", "amount=&currency=usd&destination=a").unwrap_err();
        assert_eq!(e.code, Some("parameter_invalid_empty"));
        assert_eq!(e.param.as_deref(), Some("amount"));
    }

    #[test]
    fn any_of_picks_the_matching_variant() {
        let v = post(
            "/v1/accounts/acct_1",
            "settings[payouts][schedule][interval]=weekly&settings[payouts][schedule][weekly_anchor]=friday&settings[payouts][schedule][delay_days]=3",
        )
        .unwrap();
        assert_eq!(v["settings"]["payouts"]["schedule"]["delay_days"], json!(3));
        let v = post(
            "/v1/accounts/acct_1",
            "settings[payouts][schedule][delay_days]=minimum",
        )
        .unwrap();
        assert_eq!(
            v["settings"]["payouts"]["schedule"]["delay_days"],
            json!("minimum")
        );
        let e = post(
            "/v1/accounts/acct_1",
            "settings[payouts][schedule][weekly_anchor]=someday",
        )
        .unwrap_err();
        assert_eq!(
            e.param.as_deref(),
            Some("settings[payouts][schedule][weekly_anchor]")
        );
    }

    #[test]
    fn arrays_by_index_and_append() {
        let v = post(
            "/v1/payment_intents",
            "amount=100&currency=usd&payment_method_types[1]=link&payment_method_types[0]=card",
        )
        .unwrap();
        assert_eq!(v["payment_method_types"], json!(["card", "link"]));
        let v = post(
            "/v1/payment_intents",
            "amount=100&currency=usd&payment_method_types[]=card",
        )
        .unwrap();
        assert_eq!(v["payment_method_types"], json!(["card"]));
    }

    #[test]
    fn capabilities_and_business_profile() {
        post(
            "/v1/accounts",
            "type=express&country=US&email=a%40b.c&business_type=company&business_profile[name]=Grill&business_profile[mcc]=5812&capabilities[card_payments][requested]=true&capabilities[transfers][requested]=true&metadata[partner]=p1",
        )
        .unwrap();
        let e = post("/v1/accounts", "capabilities[transfers][requested]=yes").unwrap_err();
        assert_eq!(
            e.param.as_deref(),
            Some("capabilities[transfers][requested]")
        );
    }

    #[test]
    fn query_parameters_including_deep_objects() {
        let op = spec()
            .match_route(HttpMethod::Get, "/v1/transfers")
            .unwrap()
            .op;
        let v = spec()
            .validate_query(&op, "limit=3&created[gte]=10&transfer_group=g")
            .unwrap();
        assert_eq!(v["limit"], json!(3));
        assert_eq!(v["created"], json!({"gte": 10}));
        let v = spec().validate_query(&op, "created=10").unwrap();
        assert_eq!(v["created"], json!(10));
        let e = spec().validate_query(&op, "limit=x").unwrap_err();
        assert_eq!(e.code, Some("parameter_invalid_integer"));
        let e = spec().validate_query(&op, "bogus=1").unwrap_err();
        assert_eq!(e.code, Some("parameter_unknown"));
        let e = spec().validate_query(&op, "created[bogus]=1").unwrap_err();
        assert_eq!(e.param.as_deref(), Some("created[bogus]"));
    }

    #[test]
    fn promotion_code_overlay_accepts_old_and_new_forms_only() {
        post("/v1/promotion_codes", "coupon=co_1&code=FALL").unwrap();
        post(
            "/v1/promotion_codes",
            "promotion[type]=coupon&promotion[coupon]=co_1&code=FALL",
        )
        .unwrap();
        let e = post(
            "/v1/promotion_codes",
            "promotion[type]=coupon&promotion[garbage]=1",
        )
        .unwrap_err();
        assert_eq!(e.code, Some("parameter_unknown"));
        assert_eq!(e.param.as_deref(), Some("promotion[garbage]"));
        let e = post(
            "/v1/promotion_codes",
            "promotion[type]=price&promotion[coupon]=c",
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("promotion[type]"));
        let e = post("/v1/promotion_codes", "promotion[type]=coupon").unwrap_err();
        assert_eq!(e.param.as_deref(), Some("promotion[coupon]"));
        let e = post("/v1/promotion_codes", "code=X").unwrap_err();
        assert_eq!(e.code, Some("parameter_missing"));
        assert_eq!(e.param.as_deref(), Some("coupon"));
        let e = post(
            "/v1/promotion_codes",
            "coupon=c&promotion[type]=coupon&promotion[coupon]=c",
        )
        .unwrap_err();
        assert_eq!(e.code, Some("parameters_exclusive"));
        // The overlay is scoped: updates still reject `promotion`.
        let e = post("/v1/promotion_codes/promo_1", "promotion[type]=coupon").unwrap_err();
        assert_eq!(e.code, Some("parameter_unknown"));
    }

    #[test]
    fn every_overlay_targets_a_real_operation() {
        for overlay in OVERLAYS {
            let path = overlay.path.replace("{promotion_code}", "x");
            let m = spec().match_route(overlay.method, &path).unwrap();
            assert_eq!(m.op.overlays.len(), 1, "{}", overlay.name);
        }
    }
}
