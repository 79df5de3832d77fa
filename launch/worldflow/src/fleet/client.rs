//! The coordinator's control protocol, client side: JSON text frames over a WebSocket at `/api/control`
//! (dora-message `ws_protocol`): requests `{id, method: "control", params: ControlRequest}`, responses `{id,
//! result}` or `{id, error}`, log events `{event: "log", payload: LogMessage}`.
//!
//! The coordinator answers the requests of one connection in order, one at a time (a `Stop` is answered when
//! the graph has stopped), and pushes log events only between answers: `fleet start` keeps one connection for
//! requests and another for logs. Every wait here has a deadline; errors name the coordinator's address.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use dora_message::cli_to_coordinator::ControlRequest;
use dora_message::common::LogMessage;
use dora_message::coordinator_to_cli::ControlRequestReply;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

/// How long to wait for the coordinator to accept a connection and answer the version handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a plain request (list, check, start, connected machines) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One WebSocket connection to the coordinator's control endpoint.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    addr: SocketAddr,
}

/// The request as sent: the `WsRequest` layout with the request serialized in place (no `serde_json::Value`
/// in between, which cannot hold the 128-bit ids some messages carry).
#[derive(serde::Serialize)]
struct Outgoing<'a> {
    id: Uuid,
    method: &'a str,
    params: &'a ControlRequest,
}

/// The fields every incoming frame is sorted by; `result` / `payload` are parsed afterwards into their type.
#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    id: Option<Uuid>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    event: Option<String>,
}

#[derive(Deserialize)]
struct WithResult<T> {
    result: T,
}

#[derive(Deserialize)]
struct WithPayload<T> {
    payload: T,
}

/// What an incoming text frame is, relative to the request `id` being waited for.
#[derive(Debug, PartialEq)]
pub enum Frame {
    /// The answer to the request (the whole frame's text, to be parsed into the expected type).
    Answer,
    /// The coordinator refused the request with this message.
    Refused(String),
    /// A log event.
    Log,
    /// Anything else (an answer to another request, an unknown event).
    Other,
}

/// Sorts an incoming frame; malformed JSON is an error naming what was received.
pub fn classify(text: &str, id: Uuid) -> anyhow::Result<Frame> {
    let head: Head = serde_json::from_str(text)
        .with_context(|| format!("the coordinator sent a frame that is not a control message: {}", clip(text)))?;
    Ok(match (head.id, head.error, head.event.as_deref()) {
        (Some(i), Some(e), _) if i == id => Frame::Refused(e),
        (Some(i), None, _) if i == id => Frame::Answer,
        (None, _, Some("log")) => Frame::Log,
        _ => Frame::Other,
    })
}

/// Parses the `result` of an answer frame.
pub fn parse_result<T: for<'de> Deserialize<'de>>(text: &str) -> anyhow::Result<T> {
    serde_json::from_str::<WithResult<T>>(text)
        .map(|w| w.result)
        .with_context(|| format!("unexpected answer from the coordinator: {}", clip(text)))
}

/// Parses the `payload` of a log event frame.
pub fn parse_log(text: &str) -> anyhow::Result<LogMessage> {
    serde_json::from_str::<WithPayload<LogMessage>>(text)
        .map(|w| w.payload)
        .with_context(|| format!("unreadable log event from the coordinator: {}", clip(text)))
}

fn clip(text: &str) -> String {
    let mut s: String = text.chars().take(200).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}

/// A short name of a request, for messages.
pub fn request_name(request: &ControlRequest) -> &'static str {
    match request {
        ControlRequest::Hello { .. } => "the version handshake",
        ControlRequest::Start { .. } => "start",
        ControlRequest::WaitForSpawn { .. } => "wait-for-spawn",
        ControlRequest::Check { .. } => "check",
        ControlRequest::Stop { .. } | ControlRequest::StopByName { .. } => "stop",
        ControlRequest::List => "list",
        ControlRequest::ConnectedMachines => "connected-machines",
        ControlRequest::LogSubscribe { .. } => "log-subscribe",
        ControlRequest::Destroy => "destroy",
        _ => "a control request",
    }
}

impl Client {
    /// Connects and checks that the coordinator speaks this binary's dora version, within `timeout`.
    pub async fn connect(addr: SocketAddr, timeout: Duration) -> anyhow::Result<Self> {
        let url = format!("ws://{addr}/api/control");
        let (ws, _) = tokio::time::timeout(timeout, tokio_tungstenite::connect_async(url.as_str()))
            .await
            .map_err(|_| {
                anyhow!(
                    "the coordinator at {addr} did not accept a connection within {timeout:?} (expected \
                     `worldflow fleet coordinator --listen {addr}` running and reachable)"
                )
            })?
            .map_err(|e| {
                anyhow!(
                    "cannot reach the coordinator at {addr}: {e} (expected `worldflow fleet coordinator --listen \
                     {addr}` running and reachable)"
                )
            })?;
        let mut client = Client { ws, addr };
        match client.request(&ControlRequest::hello(), timeout).await? {
            ControlRequestReply::HelloOk { .. } => Ok(client),
            other => bail!("the coordinator at {addr} answered the version handshake with {other:?}"),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends a request and returns the answer frame's text, within `timeout`. Log events that arrive meanwhile
    /// are dropped (a connection that wants them uses [`Client::subscribe_logs`]).
    async fn exchange(&mut self, request: &ControlRequest, timeout: Duration) -> anyhow::Result<String> {
        let id = Uuid::new_v4();
        let name = request_name(request);
        let addr = self.addr;
        let text = serde_json::to_string(&Outgoing { id, method: "control", params: request })
            .with_context(|| format!("encoding {name} for the coordinator"))?;
        let deadline = tokio::time::Instant::now() + timeout;
        tokio::time::timeout_at(deadline, self.ws.send(Message::Text(text.into())))
            .await
            .map_err(|_| anyhow!("the coordinator at {addr} did not take {name} within {timeout:?}"))?
            .with_context(|| format!("sending {name} to the coordinator at {addr}"))?;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .map_err(|_| anyhow!("the coordinator at {addr} did not answer {name} within {timeout:?}"))?;
            match msg {
                None | Some(Ok(Message::Close(_))) => {
                    bail!("the coordinator at {addr} closed the connection before answering {name}")
                }
                Some(Err(e)) => bail!("connection to the coordinator at {addr} failed while waiting for {name}: {e}"),
                Some(Ok(Message::Text(t))) => match classify(t.as_str(), id)? {
                    Frame::Answer => return Ok(t.as_str().to_owned()),
                    Frame::Refused(e) => bail!("the coordinator at {addr} refused {name}: {e}"),
                    Frame::Log | Frame::Other => {}
                },
                Some(Ok(Message::Ping(data))) => {
                    let _ = self.ws.send(Message::Pong(data)).await;
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// Sends a request and returns its answer; a `ControlRequestReply::Error` is an error naming the request.
    pub async fn request(
        &mut self,
        request: &ControlRequest,
        timeout: Duration,
    ) -> anyhow::Result<ControlRequestReply> {
        let text = self.exchange(request, timeout).await?;
        match parse_result::<ControlRequestReply>(&text)? {
            ControlRequestReply::Error(e) => {
                bail!("the coordinator at {} refused {}: {e}", self.addr, request_name(request))
            }
            reply => Ok(reply),
        }
    }

    /// The machine ids of the daemons connected to the coordinator (daemons without one are left out).
    pub async fn connected_machines(&mut self) -> anyhow::Result<Vec<String>> {
        match self.request(&ControlRequest::ConnectedMachines, REQUEST_TIMEOUT).await? {
            ControlRequestReply::ConnectedDaemons(daemons) => {
                Ok(daemons.iter().filter_map(|d| d.daemon_id.machine_id().map(str::to_owned)).collect())
            }
            other => bail!("the coordinator at {} answered connected-machines with {other:?}", self.addr),
        }
    }

    /// Turns this connection into a stream of the graph's log messages at `level` and above (node output lines
    /// always come).
    pub async fn subscribe_logs(mut self, dataflow_id: Uuid, level: log::LevelFilter) -> anyhow::Result<LogStream> {
        self.exchange(&ControlRequest::LogSubscribe { dataflow_id, level }, REQUEST_TIMEOUT).await?;
        Ok(LogStream { client: self })
    }
}

/// Log messages of one graph, as the coordinator forwards them.
pub struct LogStream {
    client: Client,
}

impl LogStream {
    /// The next log message; `None` once the coordinator closed the connection.
    pub async fn next(&mut self) -> Option<anyhow::Result<LogMessage>> {
        loop {
            match self.client.ws.next().await? {
                Err(_) | Ok(Message::Close(_)) => return None,
                Ok(Message::Text(t)) => match classify(t.as_str(), Uuid::nil()) {
                    Ok(Frame::Log) => return Some(parse_log(t.as_str())),
                    Ok(_) => {}
                    Err(e) => return Some(Err(e)),
                },
                Ok(Message::Ping(data)) => {
                    let _ = self.client.ws.send(Message::Pong(data)).await;
                }
                Ok(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_sorted_by_id_error_and_event() {
        let id = Uuid::new_v4();
        let other = Uuid::new_v4();
        assert_eq!(classify(&format!(r#"{{"id":"{id}","result":{{"HelloOk":{{}}}}}}"#), id).unwrap(), Frame::Answer);
        assert_eq!(
            classify(&format!(r#"{{"id":"{id}","error":"no such dataflow"}}"#), id).unwrap(),
            Frame::Refused("no such dataflow".into())
        );
        assert_eq!(classify(&format!(r#"{{"id":"{other}","result":1}}"#), id).unwrap(), Frame::Other);
        assert_eq!(classify(r#"{"event":"log","payload":{}}"#, id).unwrap(), Frame::Log);
        let e = classify("[1, 2]", id).unwrap_err().to_string();
        assert!(e.contains("not a control message: [1, 2]"), "{e}");
    }

    #[test]
    fn requests_and_answers_round_trip_through_the_wire_layout() {
        let req = ControlRequest::Check { dataflow_uuid: Uuid::nil() };
        let text = serde_json::to_string(&Outgoing { id: Uuid::nil(), method: "control", params: &req }).unwrap();
        let back: dora_message::ws_protocol::WsRequest = serde_json::from_str(&text).unwrap();
        assert_eq!(back.method, "control");
        assert!(matches!(
            serde_json::from_value::<ControlRequest>(back.params).unwrap(),
            ControlRequest::Check { dataflow_uuid } if dataflow_uuid.is_nil()
        ));
        let answer = r#"{"id":"00000000-0000-0000-0000-000000000000","result":{"DataflowSpawned":{"uuid":"00000000-0000-0000-0000-000000000001"}}}"#;
        match parse_result::<ControlRequestReply>(answer).unwrap() {
            ControlRequestReply::DataflowSpawned { uuid } => assert_eq!(uuid.as_u128(), 1),
            other => panic!("{other:?}"),
        }
        assert!(parse_result::<ControlRequestReply>(r#"{"id":"00000000-0000-0000-0000-000000000000"}"#).is_err());
    }
}
