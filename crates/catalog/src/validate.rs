//! Validation of a [`Provider`]: URLs, templates, ids, header names, pointers.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::CatalogError;
use crate::model::{
    AuthMode, FORM_CONTENT_TYPE, Location, OAuth2, Placeholder, Provider, SAMPLE_EVENT_ID,
    SAMPLE_TIMESTAMP, TokenPlacement, ValueKind, ValueSource, WebhookSample,
};

/// What a webhook location is read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Id,
    Type,
    Routing,
}
use crate::template::{self, Position, TOKEN_PLACEHOLDER};

/// What a URL may depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the user is sent away (authorization URL).
    Authorization,
    /// At code exchange (token URL).
    TokenExchange,
    /// Once connected (API, userinfo, revocation, verification).
    Connected,
}

/// Lowercase kebab-case: `[a-z0-9]+(-[a-z0-9]+)*`, at most 64 characters.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('-')
        && !id.ends_with('-')
        && !id.contains("--")
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// An HTTP field name (RFC 9110 token).
pub(crate) fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A JSON pointer (RFC 6901): empty, or `/`-separated with valid `~` escapes.
pub(crate) fn is_pointer(p: &str) -> bool {
    if !p.starts_with('/') {
        return false;
    }
    let b = p.as_bytes();
    b.iter()
        .enumerate()
        .all(|(i, &c)| c != b'~' || matches!(b.get(i + 1), Some(b'0' | b'1')))
}

struct Checker<'a> {
    p: &'a Provider,
    dev: bool,
    used: BTreeSet<String>,
}

impl Checker<'_> {
    fn err(&self, key: impl AsRef<str>, msg: impl Into<String>) -> CatalogError {
        CatalogError::invalid(&self.p.id, key.as_ref(), msg)
    }

    /// A plain URL (no placeholders allowed).
    fn plain_url(&self, key: &str, url: &str) -> Result<(), CatalogError> {
        if url.contains(['{', '}']) {
            return Err(self.err(key, "must not hold placeholders"));
        }
        template::check_url(url, self.dev)
            .map(|_| ())
            .map_err(|m| self.err(key, format!("{m}; write the provider's https endpoint")))
    }

    /// A URL template: placeholders declared, usable at that phase, in a position that
    /// fits their kind, and a sample resolution that is a valid URL.
    fn template(
        &mut self,
        key: &str,
        url: &str,
        phase: Phase,
        allow_token: bool,
    ) -> Result<(), CatalogError> {
        let vars = template::placeholders(url).map_err(|e| self.err(key, e.to_string()))?;
        let mut sample = String::new();
        let mut values = BTreeMap::new();
        for (name, pos) in &vars {
            if *name == TOKEN_PLACEHOLDER {
                if !allow_token {
                    return Err(self.err(
                        key,
                        "uses {token}, which only a revocation URL with `send = \"path\"` may",
                    ));
                }
                if *pos != Position::Rest {
                    return Err(self.err(key, "has {token} outside the path"));
                }
                values.insert((*name).to_owned(), "sample".to_owned());
                continue;
            }
            let ph = self.p.placeholders.get(*name).ok_or_else(|| {
                self.err(
                    key,
                    format!("uses {{{name}}}, which is not declared; add [placeholders.{name}]"),
                )
            })?;
            let known = match phase {
                Phase::Authorization => ph.from.known_before_authorization(),
                Phase::TokenExchange => ph.from.known_at_token_exchange(),
                Phase::Connected => true,
            };
            if !known {
                return Err(self.err(
                    key,
                    format!(
                        "uses {{{name}}}, whose value comes from {} and is not known yet when this URL is used",
                        ph.from.describe()
                    ),
                ));
            }
            let fits = matches!(
                (ph.kind, pos),
                (ValueKind::Origin, Position::Origin)
                    | (ValueKind::Label | ValueKind::Host, Position::Host)
                    | (ValueKind::Segment, Position::Rest)
            );
            if !fits {
                return Err(self.err(
                    key,
                    format!(
                        "has {{{name}}} (kind {:?}) where it does not fit: an origin starts the URL, a label or host sits in the host, a segment in the path or query",
                        ph.kind
                    ),
                ));
            }
            values.insert((*name).to_owned(), sample_for(ph));
            self.used.insert((*name).to_owned());
        }
        for piece in template::parse(url).map_err(|e| self.err(key, e.to_string()))? {
            match piece {
                template::Piece::Text(t) => sample.push_str(t),
                template::Piece::Var(n) => sample.push_str(&values[n]),
            }
        }
        template::check_url(&sample, self.dev)
            .map(|_| ())
            .map_err(|m| self.err(key, format!("{m}; write the provider's https endpoint")))
    }

    /// A text template (a header value, a query or token parameter): its placeholders
    /// declared and known at `phase` (`{token}` is no text placeholder), no control
    /// characters, and with sample values a valid header value.
    fn text(&mut self, key: &str, text: &str, phase: Phase) -> Result<(), CatalogError> {
        if text.chars().any(char::is_control) {
            return Err(self.err(key, "holds a control character; write one line"));
        }
        let pieces = template::parse(text).map_err(|e| self.err(key, e.to_string()))?;
        for piece in pieces {
            let template::Piece::Var(name) = piece else {
                continue;
            };
            let ph = self.p.placeholders.get(name).ok_or_else(|| {
                self.err(
                    key,
                    format!("uses {{{name}}}, which is not declared; add [placeholders.{name}]"),
                )
            })?;
            let known = match phase {
                Phase::Authorization => ph.from.known_before_authorization(),
                Phase::TokenExchange => ph.from.known_at_token_exchange(),
                Phase::Connected => true,
            };
            if !known {
                return Err(self.err(
                    key,
                    format!(
                        "uses {{{name}}}, whose value comes from {} and is not known yet when this is sent",
                        ph.from.describe()
                    ),
                ));
            }
            self.used.insert(name.to_owned());
        }
        Ok(())
    }

    fn header(&self, key: &str, name: &str) -> Result<(), CatalogError> {
        if is_header_name(name) {
            Ok(())
        } else {
            Err(self.err(key, format!("{name:?} is not an HTTP header name")))
        }
    }

    fn api_key(&self, key: &str, k: &crate::model::ApiKey) -> Result<(), CatalogError> {
        match (&k.header, &k.query) {
            (Some(h), None) => self.header(&format!("{key}.header"), h),
            (None, Some(q)) if !q.is_empty() && k.prefix.is_empty() => Ok(()),
            _ => Err(self.err(
                key,
                "needs exactly one of `header` and `query` (where the key goes); `prefix` goes with `header`",
            )),
        }
    }

    fn pointer(&self, key: &str, p: &str) -> Result<(), CatalogError> {
        if is_pointer(p) {
            Ok(())
        } else {
            Err(self.err(
                key,
                format!("{p:?} is not a JSON pointer; write it like \"/data/id\""),
            ))
        }
    }

    /// A location read for `role`: ids may be a body digest, types a fixed value, and
    /// routing keys neither.
    fn location(&self, key: &str, loc: &Location, role: Role) -> Result<(), CatalogError> {
        match (loc, role) {
            (Location::Header(h), _) => self.header(key, h),
            (Location::Pointer(p), _) => {
                self.pointer(key, p)?;
                crate::pointer::check_selectors(p).map_err(|m| self.err(key, format!("{p:?} {m}")))
            }
            (Location::Value(v), Role::Type) => {
                if v.trim().is_empty() || v.trim() != v || v.len() > 256 {
                    Err(self.err(key, "must be a non-empty value without surrounding spaces"))
                } else {
                    Ok(())
                }
            }
            (Location::BodySha256 | Location::None, Role::Id) => Ok(()),
            (Location::Join(pointers), Role::Type) => {
                if !(2..=4).contains(&pointers.len()) {
                    return Err(self.err(key, "joins 2 to 4 pointers"));
                }
                for p in pointers {
                    self.pointer(key, p)?;
                }
                Ok(())
            }
            (Location::Join(_), _) => Err(self.err(
                key,
                "cannot join pointers (only event_type may); name a header or a pointer",
            )),
            (Location::Value(_), _) => Err(self.err(
                key,
                "cannot be a fixed value (only event_type may be); name a header or a pointer",
            )),
            (Location::BodySha256 | Location::None, _) => Err(self.err(
                key,
                "cannot be body_sha256 or none (only event_id may be); name a header or a pointer",
            )),
        }
    }

    /// `[webhooks.keys]`: present exactly when the scheme fetches keys, with what that
    /// scheme fetches from (Plaid a key endpoint, PayPal certificate URL prefixes).
    fn keys(&mut self, w: &crate::model::Webhooks) -> Result<(), CatalogError> {
        let fetches = w
            .scheme
            .as_ref()
            .is_some_and(signatures::Scheme::fetches_keys);
        let Some(k) = &w.keys else {
            if fetches {
                return Err(self.err(
                    "webhooks.keys",
                    "is missing; a scheme whose keys are fetched needs to know where (key_url or cert_url_prefixes)",
                ));
            }
            return Ok(());
        };
        if !fetches {
            return Err(self.err(
                "webhooks.keys",
                "applies to schemes whose keys are fetched from the provider (plaid, paypal) only",
            ));
        }
        match w.scheme {
            Some(signatures::Scheme::Plaid) => {
                let Some(u) = &k.key_url else {
                    return Err(self.err(
                        "webhooks.keys.key_url",
                        "is missing; plaid fetches each key from a key endpoint",
                    ));
                };
                self.template("webhooks.keys.key_url", u, Phase::Authorization, false)?;
                if !k.cert_url_prefixes.is_empty() {
                    return Err(
                        self.err("webhooks.keys.cert_url_prefixes", "applies to paypal only")
                    );
                }
            }
            _ => {
                if k.cert_url_prefixes.is_empty() {
                    return Err(self.err(
                        "webhooks.keys.cert_url_prefixes",
                        "is missing; paypal fetches certificates, from these places only",
                    ));
                }
                if k.key_url.is_some() {
                    return Err(self.err("webhooks.keys.key_url", "applies to plaid only"));
                }
                for (i, prefix) in k.cert_url_prefixes.iter().enumerate() {
                    let key = format!("webhooks.keys.cert_url_prefixes[{i}]");
                    self.plain_url(&key, prefix)?;
                    let u = url::Url::parse(prefix).map_err(|e| self.err(&key, e.to_string()))?;
                    if !prefix.ends_with('/')
                        || u.query().is_some()
                        || u.fragment().is_some()
                        || !u.username().is_empty()
                        || u.password().is_some()
                        || u.as_str() != prefix
                    {
                        return Err(self.err(
                            &key,
                            "must be a normalised https://host/path/ ending with `/`, without query, fragment or userinfo",
                        ));
                    }
                }
            }
        }
        for (i, name) in k.settings.iter().enumerate() {
            if !is_valid_setting(name) {
                return Err(self.err(
                    format!("webhooks.keys.settings[{i}]"),
                    "must be a setting name (lowercase letters, digits, `_`)",
                ));
            }
        }
        Ok(())
    }

    /// `[sources]`: each an https link.
    fn sources(&self) -> Result<(), CatalogError> {
        for (k, url) in self.p.sources.entries() {
            self.plain_url(&format!("sources.{k}"), url)?;
        }
        Ok(())
    }

    /// `[webhooks.sample]`: header names and values, a body that is JSON (or a form with
    /// its content type) once its placeholders are filled, and no signature of its own.
    fn sample(&self, s: &WebhookSample) -> Result<(), CatalogError> {
        for (name, value) in &s.headers {
            let key = format!("webhooks.sample.headers.{name}");
            self.header(&key, name)?;
            if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
                return Err(self.err(&key, "holds a control character; write one line"));
            }
            if name.eq_ignore_ascii_case("content-type") {
                return Err(self.err(&key, "goes in webhooks.sample.content_type"));
            }
        }
        if let Some(c) = &s.content_type
            && !c.eq_ignore_ascii_case(FORM_CONTENT_TYPE)
            && !c.eq_ignore_ascii_case("application/json")
        {
            return Err(self.err(
                "webhooks.sample.content_type",
                format!(
                    "is {c:?}; use {FORM_CONTENT_TYPE:?} for form bodies, or leave it out for JSON"
                ),
            ));
        }
        let r = s.render("17000000000001", 1_700_000_000);
        if s.is_form() {
            if r.body.is_empty() || std::str::from_utf8(&r.body).is_err() {
                return Err(self.err("webhooks.sample.body", "is not a form body (name=value&…)"));
            }
        } else if let Err(e) = serde_json::from_slice::<serde_json::Value>(&r.body) {
            return Err(self.err(
                "webhooks.sample.body",
                format!(
                    "is not JSON once {SAMPLE_EVENT_ID} and {SAMPLE_TIMESTAMP} are filled ({e}); set content_type for a form body"
                ),
            ));
        }
        Ok(())
    }

    /// Each key is a header some location reads; each list is non-empty, of valid names,
    /// without repeats (of the key or of each other, case-insensitively).
    fn header_alternatives(&self, w: &crate::model::Webhooks) -> Result<(), CatalogError> {
        let read: Vec<&str> = [
            w.event_id.as_ref(),
            w.event_type.as_ref(),
            w.routing.as_ref().map(|r| &r.event),
        ]
        .into_iter()
        .flatten()
        .filter_map(|l| match l {
            Location::Header(h) => Some(h.as_str()),
            Location::Pointer(_)
            | Location::Value(_)
            | Location::Join(_)
            | Location::BodySha256
            | Location::None => None,
        })
        .collect();
        let mut keys_seen: Vec<String> = Vec::new();
        for (name, alternatives) in &w.header_alternatives {
            let key = format!("webhooks.header_alternatives.{name}");
            self.header(&key, name)?;
            if !read.iter().any(|h| h.eq_ignore_ascii_case(name)) {
                return Err(self.err(
                    &key,
                    "names no header that event_id, event_type or routing.event reads",
                ));
            }
            if keys_seen.contains(&name.to_ascii_lowercase()) {
                return Err(self.err(&key, "is listed twice (names compare case-insensitively)"));
            }
            keys_seen.push(name.to_ascii_lowercase());
            if alternatives.is_empty() {
                return Err(self.err(&key, "is empty; list at least one other header name"));
            }
            let mut seen = vec![name.to_ascii_lowercase()];
            for alt in alternatives {
                self.header(&key, alt)?;
                let lower = alt.to_ascii_lowercase();
                if seen.contains(&lower) {
                    return Err(self.err(&key, format!("repeats the header name {alt:?}")));
                }
                seen.push(lower);
            }
        }
        Ok(())
    }

    fn source(&self, key: &str, src: &ValueSource) -> Result<(), CatalogError> {
        match src {
            ValueSource::TokenResponse(p) | ValueSource::Userinfo(p) => {
                self.pointer(key, p)?;
                crate::pointer::check_selectors(p).map_err(|m| self.err(key, format!("{p:?} {m}")))
            }
            ValueSource::Connection(k)
            | ValueSource::Integration(k)
            | ValueSource::CallbackQuery(k) => {
                if k.is_empty() || k.contains(char::is_whitespace) {
                    Err(self.err(key, "must name a setting or parameter (no spaces)"))
                } else {
                    Ok(())
                }
            }
        }
    }

    fn oauth2(&mut self, o: &OAuth2) -> Result<(), CatalogError> {
        match (&o.authorization_url, self.p.auth_mode) {
            (Some(u), _) => {
                self.template("oauth2.authorization_url", u, Phase::Authorization, false)?
            }
            (None, AuthMode::Oauth2) => {
                return Err(self.err(
                    "oauth2.authorization_url",
                    "is missing; the oauth2 mode needs the provider's authorization endpoint",
                ));
            }
            (None, _) => {}
        }
        self.template(
            "oauth2.token_url",
            &o.token_url,
            Phase::TokenExchange,
            false,
        )?;
        if let Some(u) = &o.refresh_url {
            self.template("oauth2.refresh_url", u, Phase::Connected, false)?;
        }
        if let Some(u) = &o.userinfo_url {
            self.template("oauth2.userinfo_url", u, Phase::Connected, false)?;
        }
        if let Some(r) = &o.revocation {
            let path = r.send == TokenPlacement::Path;
            self.template("oauth2.revocation.url", &r.url, Phase::Connected, path)?;
            if path && !r.url.contains("{token}") {
                return Err(self.err(
                    "oauth2.revocation.url",
                    "must hold {token} because `send = \"path\"`",
                ));
            }
            if r.param.is_empty() {
                return Err(self.err("oauth2.revocation.param", "must not be empty"));
            }
        }
        if let Some(u) = &o.issuer {
            self.template("oauth2.issuer", u, Phase::Authorization, false)?;
        }
        if let Some(u) = &o.jwks_url {
            self.template("oauth2.jwks_url", u, Phase::Authorization, false)?;
        }
        if o.scope_separator.is_empty() {
            return Err(self.err("oauth2.scope_separator", "must not be empty"));
        }
        for (i, s) in o.default_scopes.iter().enumerate() {
            if s.is_empty() || s.contains(char::is_whitespace) {
                return Err(self.err(
                    format!("oauth2.default_scopes[{i}]"),
                    "must be one scope without spaces",
                ));
            }
        }
        for (k, _) in o
            .authorization_params
            .iter()
            .chain(&o.token_params)
            .chain(&o.code_params)
        {
            if RESERVED_PARAMS.contains(&k.as_str()) || *k == o.client_id_param {
                return Err(self.err(
                    format!("oauth2 params.{k}"),
                    "is set by Switchboard itself; remove it",
                ));
            }
        }
        self.client_id_param(o)?;
        for (k, v) in &o.authorization_params {
            self.text(
                &format!("oauth2.authorization_params.{k}"),
                v,
                Phase::Authorization,
            )?;
        }
        for (what, params) in [
            ("token_params", &o.token_params),
            ("code_params", &o.code_params),
        ] {
            for (k, v) in params {
                self.text(&format!("oauth2.{what}.{k}"), v, Phase::TokenExchange)?;
            }
        }
        for h in o.token_headers.keys() {
            self.header(&format!("oauth2.token_headers.{h}"), h)?;
        }
        if let Some(a) = &o.api_auth {
            self.api_key("oauth2.api_auth", a)?;
        }
        if let Some(r) = &o.revocation
            && r.send == TokenPlacement::ApiAuth
            && o.api_auth.is_none()
        {
            return Err(self.err(
                "oauth2.revocation.send",
                "is \"api_auth\" but there is no oauth2.api_auth; use \"bearer\" or add it",
            ));
        }
        let t = &o.token_response;
        if let Some(p) = &t.user_access_token {
            self.pointer("oauth2.token_response.user_access_token", p)?;
        }
        self.pointer("oauth2.token_response.access_token", &t.access_token)?;
        self.pointer("oauth2.token_response.refresh_token", &t.refresh_token)?;
        self.pointer("oauth2.token_response.scope", &t.scope)?;
        if let Some(p) = &t.ok_flag {
            self.pointer("oauth2.token_response.ok_flag", p)?;
        }
        if t.scope_separator.as_deref() == Some("") {
            return Err(self.err("oauth2.token_response.scope_separator", "must not be empty"));
        }
        Ok(())
    }

    /// `oauth2.client_id_param`: a plain parameter name that no other parameter
    /// Switchboard sets already has.
    fn client_id_param(&self, o: &OAuth2) -> Result<(), CatalogError> {
        let name = o.client_id_param.as_str();
        let plain = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !plain {
            return Err(self.err(
                "oauth2.client_id_param",
                "must be a parameter name of letters, digits, `_`, `-` or `.` (at most 64)",
            ));
        }
        if name != crate::model::CLIENT_ID_PARAM && RESERVED_PARAMS.contains(&name) {
            return Err(self.err(
                "oauth2.client_id_param",
                format!("{name:?} is a parameter Switchboard sets for something else; name the provider's client id parameter (TikTok: \"client_key\")"),
            ));
        }
        Ok(())
    }

    /// `[jwt_bearer]`: a plain issuer claim no other claim uses; without a token
    /// endpoint, no audience, no `[oauth2]` and an API to send the JWT to.
    fn jwt_bearer(&self, j: &crate::model::JwtBearer) -> Result<(), CatalogError> {
        let c = j.issuer_claim.as_str();
        let plain = !c.is_empty()
            && c.len() <= 64
            && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !plain || ["aud", "iat", "exp", "nbf", "jti", "sub", "scope"].contains(&c) {
            return Err(self.err(
                "jwt_bearer.issuer_claim",
                "must be a claim name of letters, digits and `_` that Switchboard does not set otherwise (iss, application_id)",
            ));
        }
        use crate::model::JwtAudience;
        match (j.exchange, j.audience) {
            (true, JwtAudience::None) => Err(self.err(
                "jwt_bearer.audience",
                "is none, but the assertion goes to a token endpoint, which RFC 7523 wants named in aud",
            )),
            (false, a) if a != JwtAudience::None => Err(self.err(
                "jwt_bearer.audience",
                "needs a token endpoint; with exchange = false write audience = \"none\"",
            )),
            (false, _) if self.p.oauth2.is_some() => Err(self.err(
                "oauth2",
                "has no use with jwt_bearer.exchange = false (there is no token endpoint); remove it",
            )),
            (false, _) if self.p.api_base_url.is_none() => Err(self.err(
                "api_base_url",
                "is missing; with jwt_bearer.exchange = false the JWT goes to the API",
            )),
            _ => Ok(()),
        }
    }

    fn run(mut self) -> Result<(), CatalogError> {
        let p = self.p;
        if !is_valid_id(&p.id) {
            return Err(self.err(
                "id",
                "must be lowercase kebab-case (`[a-z0-9]` words joined by `-`, at most 64 characters)",
            ));
        }
        if p.name.trim().is_empty() {
            return Err(self.err("name", "must not be empty"));
        }
        self.plain_url("docs_url", &p.docs_url)?;
        for (name, ph) in &p.placeholders {
            let key = format!("placeholders.{name}");
            if name == TOKEN_PLACEHOLDER
                || !template::parse(&format!("{{{name}}}")).is_ok_and(|v| v.len() == 1)
            {
                return Err(self.err(
                    &key,
                    "is not a usable placeholder name (lowercase letters, digits, `_`; `token` is reserved)",
                ));
            }
            self.source(&format!("{key}.from"), &ph.from)?;
            for s in &ph.host_suffixes {
                if !matches!(ph.kind, ValueKind::Host | ValueKind::Origin)
                    || !s.starts_with('.')
                    || s.len() < 3
                {
                    return Err(self.err(
                        format!("{key}.host_suffixes"),
                        "apply to `host` and `origin` kinds and start with `.` (\".salesforce.com\")",
                    ));
                }
            }
            if let Some(d) = &ph.default {
                template::encode_value(name, ph, d)
                    .map_err(|e| self.err(format!("{key}.default"), e.to_string()))?;
            }
            if !ph.allowed.is_empty() && !ph.from.known_before_authorization() {
                return Err(self.err(
                    format!("{key}.allowed"),
                    "applies to connection and integration settings (values the provider returns are checked by kind and host_suffixes)",
                ));
            }
            for (i, a) in ph.allowed.iter().enumerate() {
                let mut alone = ph.clone();
                alone.allowed.clear();
                template::encode_value(name, &alone, a)
                    .map_err(|e| self.err(format!("{key}.allowed[{i}]"), e.to_string()))?;
            }
        }
        match p.auth_mode {
            AuthMode::Oauth2 | AuthMode::ClientCredentials if p.oauth2.is_none() => {
                return Err(self.err(
                    "oauth2",
                    format!(
                        "is missing; auth_mode {} needs an [oauth2] table",
                        p.auth_mode
                    ),
                ));
            }
            AuthMode::ApiKey if p.api_key.is_none() => {
                return Err(self.err(
                    "api_key",
                    "is missing; auth_mode api_key needs an [api_key] table",
                ));
            }
            AuthMode::Basic if p.basic.is_none() => {
                return Err(self.err("basic", "is missing; auth_mode basic needs a [basic] table"));
            }
            AuthMode::WebhookOnly if p.webhooks.is_none() => {
                return Err(self.err(
                    "webhooks",
                    "is missing; auth_mode webhook_only needs a [webhooks] table",
                ));
            }
            AuthMode::GithubApp if p.github_app.is_none() || p.api_base_url.is_none() => {
                return Err(self.err(
                    "github_app",
                    "is missing; auth_mode github_app needs a [github_app] table with install_url, and api_base_url",
                ));
            }
            AuthMode::JwtBearer if p.jwt_bearer.is_none() => {
                return Err(self.err(
                    "jwt_bearer",
                    "is missing; auth_mode jwt_bearer needs a [jwt_bearer] table and [oauth2] with token_url",
                ));
            }
            AuthMode::JwtBearer
                if p.jwt_bearer.as_ref().is_some_and(|j| j.exchange) && p.oauth2.is_none() =>
            {
                return Err(self.err(
                    "oauth2",
                    "is missing; auth_mode jwt_bearer trades its JWT at [oauth2] token_url (or set jwt_bearer.exchange = false when the JWT itself is the API credential)",
                ));
            }
            AuthMode::WebhookOnly
                if p.oauth2.is_some() || p.api_key.is_some() || p.basic.is_some() =>
            {
                return Err(self.err(
                    "auth_mode",
                    "is webhook_only but credentials are described; pick the mode they belong to",
                ));
            }
            _ => {}
        }
        if let Some(o) = &p.oauth2 {
            self.oauth2(o)?;
        }
        if p.github_app.is_some() && p.auth_mode != AuthMode::GithubApp {
            return Err(self.err("github_app", "applies to auth_mode github_app only"));
        }
        if let Some(g) = &p.github_app {
            let sample = g.install_url.replace("{app_slug}", "app");
            self.plain_url("github_app.install_url", &sample)?;
            if let Some(t) = &g.token_url {
                self.plain_url("github_app.token_url", t)?;
            }
        }
        if p.jwt_bearer.is_some() && p.auth_mode != AuthMode::JwtBearer {
            return Err(self.err("jwt_bearer", "applies to auth_mode jwt_bearer only"));
        }
        if let Some(j) = &p.jwt_bearer {
            if !(30..=3600).contains(&j.assertion_lifetime_secs) {
                return Err(self.err(
                    "jwt_bearer.assertion_lifetime_secs",
                    "must be 30 to 3600 seconds",
                ));
            }
            self.jwt_bearer(j)?;
        }
        if let Some(u) = &p.api_base_url {
            self.template("api_base_url", u, Phase::Connected, false)?;
        } else if p.verify.is_some() {
            return Err(self.err("verify", "needs api_base_url, which its path is under"));
        }
        if let Some(k) = &p.api_key {
            self.api_key("api_key", k)?;
        }
        for (h, v) in &p.api_headers {
            let key = format!("api_headers.{h}");
            self.header(&key, h)?;
            self.text(&key, v, Phase::Connected)?;
        }
        let credential_param = match p.auth_mode {
            AuthMode::ApiKey => p.api_key.as_ref(),
            _ => p.oauth2.as_ref().and_then(|o| o.api_auth.as_ref()),
        }
        .and_then(|a| a.query.as_deref());
        for (q, v) in &p.api_query {
            let key = format!("api_query.{q}");
            if !is_param_name(q) {
                return Err(self.err(
                    &key,
                    "is not a query parameter name (letters, digits, `_`, `-`, `.`, `[`, `]`)",
                ));
            }
            if credential_param == Some(q.as_str()) {
                return Err(self.err(
                    &key,
                    "is the parameter the credential goes in; name another",
                ));
            }
            self.text(&key, v, Phase::Connected)?;
        }
        if !p.api_query.is_empty() && p.api_base_url.is_none() {
            return Err(self.err("api_query", "needs api_base_url, the API it is sent to"));
        }
        if let Some(v) = &p.verify
            && !v.path.starts_with('/')
        {
            return Err(self.err(
                "verify.path",
                "must start with `/` (it is under api_base_url)",
            ));
        }
        if let Some(v) = &p.verify {
            for (i, s) in v.scopes.iter().enumerate() {
                if s.is_empty() || s.contains(char::is_whitespace) {
                    return Err(self.err(
                        format!("verify.scopes[{i}]"),
                        "must be one scope without spaces",
                    ));
                }
            }
        }
        if let Some(r) = &p.rate_limit {
            for (k, h) in [
                ("limit", &r.limit),
                ("remaining", &r.remaining),
                ("reset", &r.reset),
            ] {
                if let Some(h) = h {
                    self.header(&format!("rate_limit.{k}"), h)?;
                }
            }
        }
        if let Some(w) = &p.webhooks {
            if w.scheme.is_none() && w.scheme_configurable && p.auth_mode != AuthMode::WebhookOnly {
                return Err(self.err(
                    "webhooks.scheme_configurable",
                    "is only for webhook_only entries",
                ));
            }
            if let Some(l) = &w.event_id {
                self.location("webhooks.event_id", l, Role::Id)?;
            }
            if let Some(l) = &w.event_type {
                self.location("webhooks.event_type", l, Role::Type)?;
            }
            if let Some(r) = &w.routing {
                self.location("webhooks.routing.event", &r.event, Role::Routing)?;
                self.source("webhooks.routing.connection", &r.connection)?;
            }
            self.header_alternatives(w)?;
            if let Some(s) = &w.sample {
                self.sample(s)?;
            }
            self.keys(w)?;
        }
        self.sources()?;
        let unused: Vec<&String> = p
            .placeholders
            .keys()
            .filter(|k| !self.used.contains(*k))
            .collect();
        if let Some(name) = unused.first() {
            return Err(self.err(
                format!("placeholders.{name}"),
                "is declared but no URL uses it (nor an API header, API query or token parameter); remove it",
            ));
        }
        Ok(())
    }
}

/// A query or form parameter name as catalog files write them.
fn is_param_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'[' | b']'))
}

/// Parameters Switchboard sets itself; a file may not override them.
const RESERVED_PARAMS: &[&str] = &[
    "client_id",
    "client_secret",
    "redirect_uri",
    "state",
    "code",
    "code_challenge",
    "code_challenge_method",
    "code_verifier",
    "response_type",
    "grant_type",
    "scope",
    "nonce",
    "refresh_token",
];

fn sample_for(ph: &Placeholder) -> String {
    let base = template::sample(ph.kind);
    match (ph.kind, ph.host_suffixes.first()) {
        (ValueKind::Host, Some(s)) => format!("sample{s}"),
        (ValueKind::Origin, Some(s)) => format!("https://sample{s}"),
        _ => base.to_owned(),
    }
}

/// A setting name: 1 to 64 of `a-z`, `0-9`, `_`.
fn is_valid_setting(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Validates a provider; `dev` also allows `http://` on loopback hosts.
pub(crate) fn validate(p: &Provider, dev: bool) -> Result<(), CatalogError> {
    Checker {
        p,
        dev,
        used: BTreeSet::new(),
    }
    .run()
}

/// The provenance a built-in entry must carry (see [`Provider::check_provenance`]).
pub(crate) fn provenance(p: &Provider) -> Result<(), CatalogError> {
    let err = |key: &str, msg: String| CatalogError::invalid(&p.id, key, msg);
    if p.verified.is_none() {
        return Err(err(
            "verified",
            "is missing; write the date every fact was last checked against the provider's docs: verified = 2026-12-05".into(),
        ));
    }
    let s = &p.sources;
    let needs: [(&str, bool, &Option<String>, &str); 4] = [
        ("oauth2", p.oauth2.is_some(), &s.oauth2, "[oauth2]"),
        (
            "api",
            p.api_base_url.is_some()
                || !p.api_headers.is_empty()
                || !p.api_query.is_empty()
                || p.api_key.is_some()
                || p.basic.is_some()
                || p.verify.is_some(),
            &s.api,
            "api_base_url, api_headers, api_query, [api_key], [basic] or [verify]",
        ),
        (
            "rate_limit",
            p.rate_limit.is_some(),
            &s.rate_limit,
            "[rate_limit]",
        ),
        ("webhooks", p.webhooks.is_some(), &s.webhooks, "[webhooks]"),
    ];
    for (key, present, source, what) in needs {
        if present && source.is_none() {
            return Err(err(
                &format!("sources.{key}"),
                format!(
                    "is missing; the entry has {what}: link the provider's page these facts come from"
                ),
            ));
        }
    }
    let Some(w) = &p.webhooks else {
        return Ok(());
    };
    let Some(sample) = &w.sample else {
        return Err(err(
            "webhooks.sample",
            "is missing; add what the provider sends, from a sample in its docs (headers and body)"
                .into(),
        ));
    };
    let r = sample.render("17000000000001", 1_700_000_000);
    let mut headers = signatures::Headers::new();
    for (n, v) in &r.headers {
        headers.append(n, v);
    }
    let json: Option<serde_json::Value> = if sample.is_form() {
        None
    } else {
        serde_json::from_slice(&r.body).ok()
    };
    for (key, loc) in [("event_id", &w.event_id), ("event_type", &w.event_type)] {
        let Some(loc) = loc else {
            return Err(err(
                &format!("webhooks.{key}"),
                format!(
                    "is missing; say where the provider puts it (a header, a pointer{})",
                    if key == "event_id" {
                        ", or \"body_sha256\" when it sends none"
                    } else {
                        ", or { value = \"…\" } when it sends one kind"
                    }
                ),
            ));
        };
        if *loc != Location::None && w.read(loc, &headers, json.as_ref(), &r.body).is_none() {
            return Err(err(
                "webhooks.sample",
                format!(
                    "has no {key} where webhooks.{key} reads it ({loc:?}); make the sample the provider's own"
                ),
            ));
        }
    }
    // Each sample sent must be a new event: the id must follow {event_id} (or, for a
    // body digest, {event_id} or {timestamp} in the body).
    let id_of = |event_id: &str, ts: i64| {
        let r = sample.render(event_id, ts);
        let mut h = signatures::Headers::new();
        for (n, v) in &r.headers {
            h.append(n, v);
        }
        let j: Option<serde_json::Value> = if sample.is_form() {
            None
        } else {
            serde_json::from_slice(&r.body).ok()
        };
        w.event_id
            .as_ref()
            .and_then(|l| w.read(l, &h, j.as_ref(), &r.body))
    };
    if w.event_id != Some(Location::None)
        && id_of("17000000000001", 1_700_000_000) == id_of("17000000000002", 1_700_000_001)
    {
        return Err(err(
            "webhooks.sample",
            format!(
                "gives the same event id every time; put {SAMPLE_EVENT_ID} where webhooks.event_id reads it"
            ),
        ));
    }
    Ok(())
}
