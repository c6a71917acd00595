//! The flow queue and its dead-letter queue in SQLite, with SQS's semantics: a received
//! message is invisible for the visibility timeout; one received `max_receives` times
//! without an ack moves to the dead-letter queue on the next receive attempt.

use super::{Db, begin_write, sqlite_error};
use crate::{Queue, QueueDepth, QueueMessage, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;
use std::time::Duration;

pub struct SqliteQueue {
    db: Db,
    max_receives: u32,
}

impl SqliteQueue {
    pub fn new(db: Db, max_receives: u32) -> Self {
        SqliteQueue { db, max_receives: max_receives.max(1) }
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn message(
    message_id: String,
    receipt: String,
    body: String,
    sent_at: i64,
    receive_count: i64,
) -> QueueMessage {
    QueueMessage {
        message_id,
        receipt,
        body,
        receive_count: receive_count as u32,
        sent_at: DateTime::from_timestamp_millis(sent_at).unwrap_or_default(),
    }
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn send(&self, body: &str) -> Result<String> {
        let body = body.to_string();
        let id = uuid::Uuid::new_v4().to_string();
        let message_id = id.clone();
        self.db
            .run("send message", move |conn| {
                let now = now_ms();
                conn.execute(
                    "INSERT INTO queue (message_id, body, sent_at, visible_at) VALUES (?1, ?2, ?3, ?3)",
                    params![message_id, body, now],
                )
                .map_err(|e| sqlite_error("send message", e))?;
                Ok(())
            })
            .await?;
        Ok(id)
    }

    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<QueueMessage>> {
        let max_receives = i64::from(self.max_receives);
        self.db
            .run("receive messages", move |conn| {
                let tx = begin_write(conn)?;
                let now = now_ms();
                let mut out = Vec::new();
                {
                    let mut select = tx
                        .prepare_cached(
                            "SELECT seq, message_id, body, sent_at, receive_count FROM queue
                             WHERE dead = 0 AND visible_at <= ?1 ORDER BY seq LIMIT ?2",
                        )
                        .map_err(|e| sqlite_error("receive messages", e))?;
                    let candidates: Vec<(i64, String, String, i64, i64)> = select
                        .query_map(params![now, max as i64], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                        })
                        .and_then(|rows| rows.collect())
                        .map_err(|e| sqlite_error("receive messages", e))?;
                    for (seq, message_id, body, sent_at, count) in candidates {
                        if count >= max_receives {
                            tx.execute("UPDATE queue SET dead = 1, receipt = NULL WHERE seq = ?1", params![seq])
                                .map_err(|e| sqlite_error("dead-letter message", e))?;
                            tracing::warn!(%message_id, receives = count, "message moved to the dead-letter queue");
                            continue;
                        }
                        let receipt = uuid::Uuid::new_v4().to_string();
                        tx.execute(
                            "UPDATE queue SET receive_count = receive_count + 1, receipt = ?1, visible_at = ?2 WHERE seq = ?3",
                            params![receipt, now + visibility.as_millis() as i64, seq],
                        )
                        .map_err(|e| sqlite_error("receive messages", e))?;
                        out.push(message(message_id, receipt, body, sent_at, count + 1));
                    }
                }
                tx.commit().map_err(|e| sqlite_error("commit", e))?;
                Ok(out)
            })
            .await
    }

    async fn ack(&self, receipt: &str) -> Result<()> {
        let receipt = receipt.to_string();
        self.db
            .run("ack message", move |conn| {
                conn.execute("DELETE FROM queue WHERE receipt = ?1 AND dead = 0", params![receipt])
                    .map_err(|e| sqlite_error("ack message", e))?;
                Ok(())
            })
            .await
    }

    async fn retry_later(&self, receipt: &str, delay: Duration) -> Result<()> {
        let receipt = receipt.to_string();
        self.db
            .run("change visibility", move |conn| {
                conn.execute(
                    "UPDATE queue SET visible_at = ?1 WHERE receipt = ?2 AND dead = 0",
                    params![now_ms() + delay.as_millis() as i64, receipt],
                )
                .map_err(|e| sqlite_error("change visibility", e))?;
                Ok(())
            })
            .await
    }

    async fn dead_letter(&self, message: &QueueMessage, reason: &str) -> Result<()> {
        let (receipt, id) = (message.receipt.clone(), message.message_id.clone());
        tracing::warn!(message_id = %id, reason, "message dead-lettered");
        self.db
            .run("dead-letter message", move |conn| {
                conn.execute(
                    "UPDATE queue SET dead = 1, receipt = NULL WHERE receipt = ?1 OR message_id = ?2",
                    params![receipt, id],
                )
                .map_err(|e| sqlite_error("dead-letter message", e))?;
                Ok(())
            })
            .await
    }

    async fn dead_letters(&self, max: usize) -> Result<Vec<QueueMessage>> {
        self.db
            .run("list dead letters", move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT message_id, body, sent_at, receive_count FROM queue WHERE dead = 1 ORDER BY seq LIMIT ?1",
                    )
                    .map_err(|e| sqlite_error("list dead letters", e))?;
                let rows: Vec<QueueMessage> = stmt
                    .query_map(params![max as i64], |r| {
                        Ok(message(r.get(0)?, String::new(), r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .and_then(|rows| rows.collect())
                    .map_err(|e| sqlite_error("list dead letters", e))?;
                Ok(rows)
            })
            .await
    }

    async fn redrive(&self, message_ids: Option<&[String]>) -> Result<usize> {
        let ids = message_ids.map(<[String]>::to_vec);
        self.db
            .run("redrive dead letters", move |conn| {
                let tx = begin_write(conn)?;
                let now = now_ms();
                let moved = match ids {
                    None => tx
                        .execute(
                            "UPDATE queue SET dead = 0, receive_count = 0, visible_at = ?1, receipt = NULL WHERE dead = 1",
                            params![now],
                        )
                        .map_err(|e| sqlite_error("redrive dead letters", e))?,
                    Some(ids) => {
                        let mut n = 0;
                        for id in ids {
                            n += tx
                                .execute(
                                    "UPDATE queue SET dead = 0, receive_count = 0, visible_at = ?1, receipt = NULL
                                     WHERE dead = 1 AND message_id = ?2",
                                    params![now, id],
                                )
                                .map_err(|e| sqlite_error("redrive dead letters", e))?;
                        }
                        n
                    }
                };
                tx.commit().map_err(|e| sqlite_error("commit", e))?;
                Ok(moved)
            })
            .await
    }

    async fn depth(&self) -> Result<QueueDepth> {
        self.db
            .run("queue depth", move |conn| {
                let now = now_ms();
                conn.query_row(
                    "SELECT COALESCE(SUM(dead = 0 AND visible_at <= ?1), 0), COALESCE(SUM(dead = 0 AND visible_at > ?1), 0),
                            COALESCE(SUM(dead = 1), 0) FROM queue",
                    params![now],
                    |r| {
                        Ok(QueueDepth {
                            visible: r.get::<_, i64>(0)? as u64,
                            in_flight: r.get::<_, i64>(1)? as u64,
                            dead: r.get::<_, i64>(2)? as u64,
                        })
                    },
                )
                .map_err(|e| sqlite_error("queue depth", e))
            })
            .await
    }
}
