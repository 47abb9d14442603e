//! The test proxy's HTTP plumbing: reading one request, forwarding it to moto with
//! `Connection: close`, splitting and rewriting answers (DescribeInstances states shown as
//! `pending`, with a corrected `Content-Length`).

use std::collections::HashSet;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One request as read from the client.
pub struct Request {
    pub head: String,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn param(&self, name: &str) -> Option<String> {
        let text = self.text();
        let prefix = format!("{name}=");
        text.split('&')
            .find_map(|kv| kv.strip_prefix(prefix.as_str()).map(str::to_string))
    }
}

pub async fn read_request(conn: &mut TcpStream) -> std::io::Result<Option<Request>> {
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 8192];
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let mut request = Request {
        head: String::from_utf8_lossy(&buf[..head_end]).into_owned(),
        body: Vec::new(),
    };
    let length: usize = request
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let mut chunk = [0u8; 8192];
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    request.body = buf[head_end..].to_vec();
    Ok(Some(request))
}

/// Sends the request upstream with `Connection: close` and returns its whole answer, relayed
/// with `Connection: close`.
pub async fn forward(request: &Request, upstream: u16) -> std::io::Result<Vec<u8>> {
    let mut up = TcpStream::connect(("127.0.0.1", upstream)).await?;
    up.write_all(close_head(&request.head).as_bytes()).await?;
    up.write_all(&request.body).await?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer).await?;
    let (head, body) = split(&answer);
    let mut relayed = close_head(&String::from_utf8_lossy(head)).into_bytes();
    relayed.extend_from_slice(body);
    Ok(relayed)
}

/// The head without its connection headers, plus `Connection: close`.
pub fn close_head(head: &str) -> String {
    head.split("\r\n")
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            !l.starts_with("connection:") && !l.starts_with("keep-alive:")
        })
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}\r\n"))
        .collect::<String>()
        + "Connection: close\r\n\r\n"
}

pub fn split(answer: &[u8]) -> (&[u8], &[u8]) {
    let at = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(answer.len(), |p| p + 4);
    answer.split_at(at)
}

/// `xml` with the state of every instance in `pending` replaced by `pending` (code 0).
pub fn show_pending(xml: &str, pending: &HashSet<String>) -> String {
    let mut out = xml.to_string();
    for id in pending {
        let Some(at) = out.find(&format!("<instanceId>{id}</instanceId>")) else {
            continue;
        };
        let Some(start) = out[at..].find("<instanceState>").map(|p| p + at) else {
            continue;
        };
        let Some(end) = out[start..]
            .find("</instanceState>")
            .map(|p| p + start + "</instanceState>".len())
        else {
            continue;
        };
        out.replace_range(
            start..end,
            "<instanceState><code>0</code><name>pending</name></instanceState>",
        );
    }
    out
}

/// `answer` (a whole HTTP answer) with its body replaced by `body` and its length corrected.
pub fn with_body(answer: &[u8], body: &str) -> Vec<u8> {
    let (head, _) = split(answer);
    let head: String = String::from_utf8_lossy(head)
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("content-length:"))
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}\r\n"))
        .collect();
    format!("{head}Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}
