//! The audit log: recording admin actions and verifying the hash chain.

use serde::Serialize;
use store::{AuditEntry, AuditRecord, GENESIS_HASH, chain_hash};

use crate::{Actor, Engine, EngineResult};

/// A page of audit records, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct AuditPage {
    /// The records.
    pub data: Vec<AuditRecord>,
    /// Pass as `before` to get the next (older) page; `None` at the end.
    pub next_cursor: Option<String>,
}

/// Why a row broke the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Break {
    /// The row's content does not match its hash: it was edited.
    HashMismatch,
    /// The row does not point at the previous row's hash: a row before it was edited,
    /// replaced or removed.
    PrevHashMismatch,
    /// Sequence numbers skip: rows were deleted.
    Gap {
        /// The sequence number that should have come next.
        expected: i64,
    },
    /// The chain ends before the recorded head: the newest rows were deleted.
    Truncated {
        /// The head's sequence number.
        head_seq: i64,
    },
    /// The last row's hash differs from the recorded head.
    HeadMismatch,
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Rows read.
    pub rows_checked: u64,
    /// Whether the whole chain is intact.
    pub ok: bool,
    /// The first bad row's sequence number, if any.
    pub first_bad_seq: Option<i64>,
    /// What is wrong with it.
    pub problem: Option<Break>,
}

impl Engine {
    /// Appends an audit row. `details` must never contain a secret.
    pub async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        details: serde_json::Value,
    ) -> EngineResult<AuditRecord> {
        let entry = AuditEntry {
            at: self.now(),
            actor: actor.to_string(),
            action: action.to_owned(),
            target: target.to_owned(),
            details,
        };
        Ok(self.inner.store.append_audit(&entry).await?)
    }

    /// A page of the audit log, newest first. `before` is a cursor from a previous page.
    pub async fn list_audit(&self, before: Option<&str>, limit: u32) -> EngineResult<AuditPage> {
        let before = match before {
            None => None,
            Some(c) => Some(c.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                crate::EngineError::Invalid {
                    field: "cursor",
                    message: "not a cursor from a previous page; omit it to start at the newest"
                        .into(),
                }
            })?),
        };
        let limit = limit.clamp(1, 500);
        let data = self.inner.store.list_audit_desc(before, limit).await?;
        let next_cursor = match data.last() {
            Some(last) if data.len() as u32 == limit && last.seq > 1 => Some(last.seq.to_string()),
            _ => None,
        };
        Ok(AuditPage { data, next_cursor })
    }

    /// Walks the whole chain from the first row and names the first bad one.
    /// `progress` is called with the number of rows checked so far.
    pub async fn verify_audit(
        &self,
        progress: &(dyn Fn(u64) + Sync),
    ) -> EngineResult<Verification> {
        const PAGE: u32 = 1000;
        let head = self.inner.store.audit_head().await?;
        let mut expected_seq = 1i64;
        let mut prev_hash = GENESIS_HASH.to_owned();
        let mut checked = 0u64;
        let bad = |seq: i64, problem: Break, checked: u64| Verification {
            rows_checked: checked,
            ok: false,
            first_bad_seq: Some(seq),
            problem: Some(problem),
        };
        loop {
            let rows = self
                .inner
                .store
                .list_audit_asc(expected_seq - 1, PAGE)
                .await?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                checked += 1;
                if r.seq != expected_seq {
                    return Ok(bad(
                        r.seq,
                        Break::Gap {
                            expected: expected_seq,
                        },
                        checked,
                    ));
                }
                if r.prev_hash != prev_hash {
                    return Ok(bad(r.seq, Break::PrevHashMismatch, checked));
                }
                if chain_hash(&r.prev_hash, r.seq, &r.entry) != r.hash {
                    return Ok(bad(r.seq, Break::HashMismatch, checked));
                }
                prev_hash = r.hash.clone();
                expected_seq += 1;
            }
            progress(checked);
        }
        let last_seq = expected_seq - 1;
        if let Some((head_seq, head_hash)) = head {
            if head_seq > last_seq {
                return Ok(bad(last_seq + 1, Break::Truncated { head_seq }, checked));
            }
            if head_seq < last_seq {
                // Rows after the recorded head were added without going through the
                // chained append.
                return Ok(bad(head_seq + 1, Break::HeadMismatch, checked));
            }
            if head_hash != prev_hash {
                return Ok(bad(last_seq, Break::HeadMismatch, checked));
            }
        } else if last_seq > 0 {
            // Rows without a head: the head row itself was removed.
            return Ok(bad(last_seq, Break::HeadMismatch, checked));
        }
        Ok(Verification {
            rows_checked: checked,
            ok: true,
            first_bad_seq: None,
            problem: None,
        })
    }
}
