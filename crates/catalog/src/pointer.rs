//! JSON pointers (RFC 6901) as catalog files write them, with one addition: a
//! reference token `[name=value]` applied to an array selects its first element that is
//! an object whose member `name` is `value` (a string equal to it, or a number or boolean
//! written that way). Basecamp's accounts list is the case:
//! `/accounts/[product=bc3]/id` is the id of the first Basecamp 4 account, wherever it
//! sits in the list. On an object, such a token is an ordinary member name, so every
//! plain pointer reads as RFC 6901 says.

use serde_json::Value;

/// The reference tokens of `pointer`, unescaped (`~1` → `/`, `~0` → `~`); `None` when it
/// is not a pointer (it must be empty or start with `/`).
fn tokens(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect(),
    )
}

/// The `(name, value)` of a selector token `[name=value]`.
fn selector(token: &str) -> Option<(&str, &str)> {
    token
        .strip_prefix('[')?
        .strip_suffix(']')?
        .split_once('=')
        .filter(|(name, _)| !name.is_empty())
}

fn matches(member: &Value, wanted: &str) -> bool {
    match member {
        Value::String(s) => s == wanted,
        Value::Number(n) => n.to_string() == wanted,
        Value::Bool(b) => b.to_string() == wanted,
        _ => false,
    }
}

/// An array index as RFC 6901 writes it: `0`, or digits without a leading zero.
fn index(token: &str) -> Option<usize> {
    let ok = token == "0"
        || (!token.is_empty()
            && !token.starts_with('0')
            && token.bytes().all(|b| b.is_ascii_digit()));
    ok.then(|| token.parse().ok()).flatten()
}

/// The value at `pointer` in `doc`, with `[name=value]` selecting in arrays (see the
/// module documentation). `None` when nothing is there.
pub fn select<'a>(doc: &'a Value, pointer: &str) -> Option<&'a Value> {
    let mut at = doc;
    for token in tokens(pointer)? {
        at = match at {
            Value::Object(map) => map.get(&token)?,
            Value::Array(items) => match selector(&token) {
                Some((name, wanted)) => items
                    .iter()
                    .find(|item| item.get(name).is_some_and(|m| matches(m, wanted)))?,
                None => items.get(index(&token)?)?,
            },
            _ => return None,
        };
    }
    Some(at)
}

/// Checks the selectors of a pointer: a token that opens with `[` and closes with `]`
/// must be `[name=value]` with a name. `Err` says what is wrong.
pub(crate) fn check_selectors(pointer: &str) -> Result<(), String> {
    let Some(tokens) = tokens(pointer) else {
        return Err("is not a JSON pointer".into());
    };
    for t in tokens {
        if t.starts_with('[') && t.ends_with(']') && selector(&t).is_none() {
            return Err(format!(
                "has the selector {t:?}, which needs a member name and a value: [product=bc3]"
            ));
        }
    }
    Ok(())
}
