//! The audit log: recording admin actions and verifying the hash chain.

use serde::Serialize;
use store::{AuditCheckpoint, AuditEntry, AuditRecord, GENESIS_HASH, chain_hash};

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

/// How far a walk got.
struct Walk {
    verification: Verification,
    /// The last good row (before the first bad one).
    last_seq: i64,
    /// Its hash (empty when the walk found a break).
    last_hash: String,
}

/// The chain's state as [`Engine::audit_status`] tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditStatus {
    /// This check: the rows it read (with a checkpoint, that row and the ones after it),
    /// whether they verify, and the first bad row.
    pub verification: Verification,
    /// Every row up to this one has been verified, now or before (when `ok`).
    pub through_seq: i64,
    /// The checkpoint after this check: when the rows were verified. `None` when the
    /// chain is broken or empty.
    pub checkpoint: Option<AuditCheckpoint>,
    /// Whether this check walked the whole chain (there was no checkpoint).
    pub whole_chain: bool,
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

    /// Walks the whole chain from the first row and names the first bad one, then
    /// records the outcome for [`Engine::audit_status`]: on success, a checkpoint at the
    /// last row (a walk of the whole chain, now); on a break, no checkpoint, so that no
    /// later check starts from rows now known to be untrustworthy. `progress` is called
    /// with the number of rows checked so far.
    pub async fn verify_audit(
        &self,
        progress: &(dyn Fn(u64) + Sync),
    ) -> EngineResult<Verification> {
        let walk = self
            .walk_audit(0, GENESIS_HASH.to_owned(), 0, progress)
            .await?;
        self.record_audit_walk(&walk, None).await?;
        Ok(walk.verification)
    }

    /// The same walk as [`Engine::verify_audit`], recording nothing (for a database that
    /// may not be migrated, such as the security self-audit's).
    pub async fn check_audit_chain(
        &self,
        progress: &(dyn Fn(u64) + Sync),
    ) -> EngineResult<Verification> {
        Ok(self
            .walk_audit(0, GENESIS_HASH.to_owned(), 0, progress)
            .await?
            .verification)
    }

    /// The chain's state as cheaply as it can be told honestly: from the recorded
    /// checkpoint, the checkpoint's row is read again (it must be unchanged) and only
    /// the rows added since are verified, chained onto it, and the checkpoint moves to
    /// the last one; without a checkpoint (never verified, or found broken) the whole
    /// chain is walked. What it says about the rows before the checkpoint is when they
    /// were verified ([`AuditStatus::checkpoint`]), not that they were read now.
    pub async fn audit_status(&self) -> EngineResult<AuditStatus> {
        let store = &self.inner.store;
        let Some(cp) = store.audit_checkpoint().await? else {
            let walk = self
                .walk_audit(0, GENESIS_HASH.to_owned(), 0, &|_| {})
                .await?;
            let checkpoint = self.record_audit_walk(&walk, None).await?;
            return Ok(AuditStatus {
                verification: walk.verification,
                through_seq: walk.last_seq,
                checkpoint,
                whole_chain: true,
            });
        };
        // The checkpoint's row, unchanged since it was verified.
        let row = store.list_audit_asc(cp.seq - 1, 1).await?;
        let problem = match row.first() {
            None => Some(Break::Truncated { head_seq: cp.seq }),
            Some(r) if r.seq != cp.seq => Some(Break::Gap { expected: cp.seq }),
            Some(r) if r.hash != cp.hash || chain_hash(&r.prev_hash, r.seq, &r.entry) != r.hash => {
                Some(Break::HashMismatch)
            }
            Some(_) => None,
        };
        let walk = match problem {
            Some(problem) => Walk {
                verification: Verification {
                    rows_checked: 1,
                    ok: false,
                    first_bad_seq: Some(cp.seq),
                    problem: Some(problem),
                },
                last_seq: cp.seq - 1,
                last_hash: String::new(),
            },
            None => self.walk_audit(cp.seq, cp.hash.clone(), 1, &|_| {}).await?,
        };
        let checkpoint = self.record_audit_walk(&walk, Some(&cp)).await?;
        Ok(AuditStatus {
            verification: walk.verification,
            through_seq: walk.last_seq,
            checkpoint,
            whole_chain: false,
        })
    }

    /// Records a walk's outcome: from `from` (a check from that checkpoint) or the whole
    /// chain. Returns the checkpoint now in force for what was verified, if any.
    async fn record_audit_walk(
        &self,
        walk: &Walk,
        from: Option<&AuditCheckpoint>,
    ) -> EngineResult<Option<AuditCheckpoint>> {
        let store = &self.inner.store;
        if !walk.verification.ok {
            store.clear_audit_checkpoint().await?;
            return Ok(None);
        }
        if walk.last_seq == 0 {
            return Ok(None);
        }
        let now = self.now();
        let cp = match from {
            None => AuditCheckpoint {
                seq: walk.last_seq,
                hash: walk.last_hash.clone(),
                full_seq: walk.last_seq,
                full_at: now,
                checked_at: now,
            },
            Some(from) if from.seq == walk.last_seq => return Ok(Some(from.clone())),
            Some(from) => AuditCheckpoint {
                seq: walk.last_seq,
                hash: walk.last_hash.clone(),
                checked_at: now,
                ..from.clone()
            },
        };
        // A concurrent check that moved it first, or a walk that found a break and
        // cleared it, wins: this one's rows were verified all the same.
        store
            .save_audit_checkpoint(&cp, from.map(|f| f.seq))
            .await?;
        Ok(Some(cp))
    }

    /// Walks the chain from row `after` (0: the start), whose hash is `prev_hash`, to
    /// the recorded head. A row appended while it walks is walked too (the head is read
    /// after the rows, and the rows again when it is ahead), so appends never look like
    /// a break. `checked` counts rows already read.
    async fn walk_audit(
        &self,
        after: i64,
        mut prev_hash: String,
        mut checked: u64,
        progress: &(dyn Fn(u64) + Sync),
    ) -> EngineResult<Walk> {
        const PAGE: u32 = 1000;
        let store = &self.inner.store;
        let mut expected_seq = after + 1;
        let bad = |seq: i64, problem: Break, checked: u64| Walk {
            verification: Verification {
                rows_checked: checked,
                ok: false,
                first_bad_seq: Some(seq),
                problem: Some(problem),
            },
            last_seq: seq - 1,
            last_hash: String::new(),
        };
        loop {
            loop {
                let rows = store.list_audit_asc(expected_seq - 1, PAGE).await?;
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
                    prev_hash.clone_from(&r.hash);
                    expected_seq += 1;
                }
                progress(checked);
            }
            let last_seq = expected_seq - 1;
            match store.audit_head().await? {
                Some((head_seq, _)) if head_seq > last_seq => {
                    // Appended since the rows were read, or the newest rows removed.
                    if store.list_audit_asc(last_seq, 1).await?.is_empty() {
                        return Ok(bad(last_seq + 1, Break::Truncated { head_seq }, checked));
                    }
                }
                // Rows after the recorded head were added without the chained append
                // (which moves the head in the same transaction).
                Some((head_seq, _)) if head_seq < last_seq => {
                    return Ok(bad(head_seq + 1, Break::HeadMismatch, checked));
                }
                Some((_, head_hash)) if head_hash != prev_hash => {
                    return Ok(bad(last_seq, Break::HeadMismatch, checked));
                }
                // Rows without a head: the head row itself was removed.
                None if last_seq > 0 => return Ok(bad(last_seq, Break::HeadMismatch, checked)),
                _ => {
                    return Ok(Walk {
                        verification: Verification {
                            rows_checked: checked,
                            ok: true,
                            first_bad_seq: None,
                            problem: None,
                        },
                        last_seq,
                        last_hash: prev_hash,
                    });
                }
            }
        }
    }
}
