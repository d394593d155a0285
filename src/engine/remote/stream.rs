//! Reading a server's answer: its server-sent event stream, line by line, into text and
//! counts for the job, or the reason it broke.

use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;

use anyhow::Result;
use serde_json::Value;

use super::{QUOTE_CHARS, Server, one_line, silent, status_error, transport_error};

/// The longest server-sent line read; a longer one is a broken server, not an answer.
pub(super) const MAX_LINE: usize = 1 << 20;

/// What a request's reader (or the client) tells its job.
pub(super) enum Incoming {
    Text(String),
    /// The token counts the server reported (`usage`), and llama-server's reused prompt.
    Usage {
        prompt: Option<u32>,
        generated: Option<u32>,
        reused: Option<u32>,
    },
    /// The stream ended as it should, with the server's `finish_reason`.
    End(Option<String>),
    Failed(String),
    Cancel,
}

/// Posts the request and sends what its event stream says to the job, until the stream ends
/// or the job no longer wants it (then dropping the response closes the connection).
pub(super) fn read_stream(
    server: &Server,
    endpoint: &str,
    body: &Value,
    tx: &Sender<Incoming>,
    abandon: &AtomicBool,
) {
    let send = |message: Incoming| {
        let _ = tx.send(message);
    };
    let mut reader = match open_stream(server, endpoint, body) {
        Ok(reader) => reader,
        Err(reason) => return send(Incoming::Failed(reason)),
    };
    let mut line = Vec::new();
    let mut data = String::new();
    let mut finish: Option<String> = None;
    loop {
        if abandon.load(Ordering::Relaxed) {
            return;
        }
        let text = match read_line(server, &mut reader, &mut line) {
            Ok(Some(text)) => text,
            // The server closed the stream: fine after its last word, not before.
            Ok(None) => {
                return send(match finish {
                    Some(reason) => Incoming::End(Some(reason)),
                    None => Incoming::Failed(format!(
                        "the server at {} stopped its answer half-way (the stream ended \
                         without a finish); try again",
                        server.base
                    )),
                });
            }
            Err(reason) => return send(Incoming::Failed(reason)),
        };
        if let Some(payload) = text.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(payload.strip_prefix(' ').unwrap_or(payload));
            continue;
        }
        if let Some(payload) = text.strip_prefix("error:") {
            return send(Incoming::Failed(format!(
                "the server at {} reported an error: {}",
                server.base,
                stream_error(payload.trim())
            )));
        }
        if !text.is_empty() {
            continue; // a comment (":"), an event name or an id: nothing for Quill
        }
        // A blank line ends an event.
        let event = std::mem::take(&mut data);
        if event.is_empty() {
            continue;
        }
        if event.trim() == "[DONE]" {
            return send(Incoming::End(finish));
        }
        match chunk_messages(server, &event, &mut finish) {
            Ok(messages) => messages.into_iter().for_each(send),
            Err(reason) => return send(Incoming::Failed(reason)),
        }
    }
}

/// Posts the request; the response body to read as an event stream, or why there is none.
pub(super) fn open_stream(
    server: &Server,
    endpoint: &str,
    body: &Value,
) -> Result<BufReader<impl std::io::Read + use<>>, String> {
    let mut request = server
        .agent
        .post(format!("{}{endpoint}", server.base))
        .header("Content-Type", "application/json")
        .header("Accept", "text/event-stream");
    if let Some(key) = &server.key {
        request = request.header("Authorization", format!("Bearer {key}"));
    }
    let response = request
        .send(body.to_string())
        .map_err(|e| transport_error(&e, &server.base, server.timeout))?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    if status != 200 {
        let text = body
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .unwrap_or_default();
        return Err(status_error(status, &text, &server.base, endpoint));
    }
    Ok(BufReader::new(body.into_reader()))
}

/// The stream's next line without its line break; None at its end.
pub(super) fn read_line(
    server: &Server,
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
) -> Result<Option<String>, String> {
    line.clear();
    let read = std::io::Read::take(reader, MAX_LINE as u64).read_until(b'\n', line);
    let read = match read {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Err(silent(server)),
        Err(e) => {
            return Err(format!(
                "the connection to {} broke mid-answer: {e}",
                server.base
            ));
        }
    };
    if read == 0 {
        return Ok(None);
    }
    if read >= MAX_LINE && !line.ends_with(b"\n") {
        return Err(format!(
            "the server at {} sent a line of over {} KiB: not an event stream",
            server.base,
            MAX_LINE >> 10
        ));
    }
    let text = std::str::from_utf8(line)
        .map_err(|_| format!("the server at {} sent text that is not UTF-8", server.base))?;
    Ok(Some(text.trim_end_matches(['\n', '\r']).to_string()))
}

/// What one event's JSON chunk holds for the job: its text, its counts; `finish` keeps the
/// finish reason the stream gave.
pub(super) fn chunk_messages(
    server: &Server,
    event: &str,
    finish: &mut Option<String>,
) -> Result<Vec<Incoming>, String> {
    let chunk: Value = serde_json::from_str(event).map_err(|e| {
        format!(
            "the server at {} sent malformed JSON mid-answer ({e})",
            server.base
        )
    })?;
    if !chunk["error"].is_null() {
        return Err(format!(
            "the server at {} reported an error: {}",
            server.base,
            stream_error(&chunk.to_string())
        ));
    }
    let mut messages = Vec::new();
    let choice = &chunk["choices"][0];
    let piece = choice["delta"]["content"]
        .as_str()
        .or_else(|| choice["text"].as_str());
    if let Some(piece) = piece
        && !piece.is_empty()
    {
        messages.push(Incoming::Text(piece.to_string()));
    }
    if let Some(reason) = choice["finish_reason"].as_str() {
        *finish = Some(reason.to_string());
    }
    let as_u32 = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
    if !chunk["usage"].is_null() || !chunk["timings"].is_null() {
        messages.push(Incoming::Usage {
            prompt: as_u32(&chunk["usage"]["prompt_tokens"]),
            generated: as_u32(&chunk["usage"]["completion_tokens"]),
            reused: as_u32(&chunk["timings"]["cache_n"]),
        });
    }
    Ok(messages)
}

/// The message inside an error event, or the event itself, cut short.
pub(super) fn stream_error(payload: &str) -> String {
    let message = serde_json::from_str::<Value>(payload)
        .ok()
        .and_then(|v| {
            v["error"]["message"]
                .as_str()
                .or_else(|| v["message"].as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| payload.to_string());
    one_line(&message).chars().take(QUOTE_CHARS).collect()
}
