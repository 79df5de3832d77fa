//! `fleet list` and `fleet stop`: the graphs a coordinator knows and the machines connected to it; stopping a
//! graph by id or name.

use std::net::SocketAddr;

use anyhow::bail;
use dora_message::cli_to_coordinator::ControlRequest;
use dora_message::coordinator_to_cli::{ControlRequestReply, DataflowListEntry, DataflowStatus};
use uuid::Uuid;

use super::client::{Client, CONNECT_TIMEOUT, REQUEST_TIMEOUT};
use super::session::{runtime, STOP_GIVE_UP, STOP_GRACE};

async fn list_entries(client: &mut Client) -> anyhow::Result<Vec<DataflowListEntry>> {
    match client.request(&ControlRequest::List, REQUEST_TIMEOUT).await? {
        ControlRequestReply::DataflowList(list) => Ok(list.0),
        other => bail!("the coordinator at {} answered list with {other:?}", client.addr()),
    }
}

fn status_name(s: DataflowStatus) -> &'static str {
    match s {
        DataflowStatus::Running => "running",
        DataflowStatus::Finished => "finished",
        DataflowStatus::Failed => "failed",
    }
}

/// Prints the connected machines and the graphs the coordinator at `coordinator` knows.
pub fn list(coordinator: SocketAddr) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let mut client = Client::connect(coordinator, CONNECT_TIMEOUT).await?;
        let mut machines = client.connected_machines().await?;
        machines.sort();
        println!("machines: {}", if machines.is_empty() { "(none connected)".to_owned() } else { machines.join(", ") });
        let entries = list_entries(&mut client).await?;
        if entries.is_empty() {
            println!("graphs: (none)");
        }
        for e in entries {
            println!("{}  {:<8}  {}", e.id.uuid, status_name(e.status), e.id.name.as_deref().unwrap_or("-"));
        }
        Ok(())
    })
}

/// The running graph `which` names (a uuid or a name), or the only running one when `which` is `None`.
pub fn pick(entries: &[DataflowListEntry], which: Option<&str>) -> anyhow::Result<Uuid> {
    let running: Vec<&DataflowListEntry> = entries.iter().filter(|e| e.status == DataflowStatus::Running).collect();
    let shown = |list: &[&DataflowListEntry]| list.iter().map(|e| e.id.to_string()).collect::<Vec<_>>().join(", ");
    match which {
        None => match running.as_slice() {
            [one] => Ok(one.id.uuid),
            [] => bail!("no graph is running at this coordinator"),
            many => bail!("several graphs are running ({}): name the one to stop", shown(many)),
        },
        Some(w) => {
            let matches: Vec<&DataflowListEntry> = running
                .iter()
                .copied()
                .filter(|e| e.id.uuid.to_string() == w || e.id.name.as_deref() == Some(w))
                .collect();
            match matches.as_slice() {
                [one] => Ok(one.id.uuid),
                [] => bail!(
                    "no running graph `{w}` (expected a uuid or a name; running: {})",
                    if running.is_empty() { "none".to_owned() } else { shown(&running) }
                ),
                many => bail!("`{w}` names several running graphs ({}): use the uuid", shown(many)),
            }
        }
    }
}

/// Stops a running graph on every machine; `force` kills its nodes without a grace period.
pub fn stop(coordinator: SocketAddr, which: Option<&str>, force: bool) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let mut client = Client::connect(coordinator, CONNECT_TIMEOUT).await?;
        let uuid = pick(&list_entries(&mut client).await?, which)?;
        eprintln!("fleet: stopping graph {uuid}");
        let request = ControlRequest::Stop { dataflow_uuid: uuid, grace_duration: None, force };
        match client.request(&request, STOP_GRACE + STOP_GIVE_UP).await? {
            ControlRequestReply::DataflowStopped { result, .. } => {
                let failed = crate::run::failed_nodes(&result);
                if !failed.is_empty() {
                    bail!("graph {uuid} stopped; {}", failed.join("; "));
                }
                eprintln!("fleet: graph {uuid} stopped");
                Ok(())
            }
            other => bail!("the coordinator at {coordinator} answered stop with {other:?}"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dora_message::coordinator_to_cli::DataflowIdAndName;

    fn entry(n: u128, name: Option<&str>, status: DataflowStatus) -> DataflowListEntry {
        DataflowListEntry { id: DataflowIdAndName { uuid: Uuid::from_u128(n), name: name.map(str::to_owned) }, status }
    }

    #[test]
    fn the_graph_to_stop_is_picked_by_uuid_name_or_uniqueness() {
        let list = [
            entry(1, Some("drive"), DataflowStatus::Running),
            entry(2, Some("old"), DataflowStatus::Finished),
            entry(3, None, DataflowStatus::Running),
        ];
        assert_eq!(pick(&list, Some("drive")).unwrap().as_u128(), 1);
        assert_eq!(pick(&list, Some(&Uuid::from_u128(3).to_string())).unwrap().as_u128(), 3);
        assert!(pick(&list, None).unwrap_err().to_string().contains("several graphs are running"));
        assert!(pick(&list, Some("old")).unwrap_err().to_string().contains("no running graph `old`"));
        assert_eq!(pick(&list[..2], None).unwrap().as_u128(), 1);
        assert!(pick(&list[1..2], None).unwrap_err().to_string().contains("no graph is running"));
    }
}
