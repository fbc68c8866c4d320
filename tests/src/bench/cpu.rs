//! CPU time used by processes, from `/proc`: what the local runtime (node running wrangler dev
//! or Miniflare, and workerd) and this process (client and fake Bedrock) spend per chat.

use super::{overhead::Pair, table::Row};
use crate::stack::Stack;
use std::collections::BTreeMap;

/// Chats whose CPU use is measured.
pub const CHATS: usize = 200;

/// CPU per chat through the edge, by process: [`CHATS`] sequential chats through `pair`, whose
/// edge is `stack`.
pub async fn row(stack: &Stack, pair: &Pair) -> anyhow::Result<Row> {
    let before = snapshot(stack.process_group());
    for _ in 0..CHATS {
        pair.edge().await?;
    }
    let after = snapshot(stack.process_group());
    let mut used = per_unit(&before, &after, CHATS);
    used.sort_by(|a, b| b.1.total_cmp(&a.1));
    let value = used
        .iter()
        .map(|(name, ms)| format!("{name} {ms:.1} ms"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Row::new(
        format!("CPU per chat through the edge, {}", stack.runtime.label()),
        value,
        format!(
            "user + system CPU from /proc of the process group of {} (node, workerd) and of \
             this process, over {CHATS} sequential chats (fake without pacing), divided by \
             {CHATS}",
            stack.runtime.name()
        ),
    ))
}

/// CPU milliseconds (user + system) so far, by process name, of the processes in process
/// group `pgid`, plus this process as `"bench (client + fake)"`.
pub fn snapshot(pgid: u32) -> BTreeMap<String, f64> {
    let tick_ms = 1000.0 / clock_ticks_per_second();
    let mut by_name = BTreeMap::new();
    let own = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return by_name;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((name, group, ticks)) = parse_stat(&stat) else {
            continue;
        };
        let name = if pid == own {
            "bench (client + fake)".to_owned()
        } else if group == pgid {
            name
        } else {
            continue;
        };
        *by_name.entry(name).or_insert(0.0) += ticks as f64 * tick_ms;
    }
    by_name
}

/// Name, process group and user + system ticks from a `/proc/PID/stat` line.
fn parse_stat(stat: &str) -> Option<(String, u32, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // After the name: state, ppid, pgrp, ..., utime (11th), stime (12th), counting from 0.
    let group = fields.get(2)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, group, utime + stime))
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// `after - before` per name, divided by `per`.
pub fn per_unit(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
    per: usize,
) -> Vec<(String, f64)> {
    after
        .iter()
        .map(|(name, ms)| {
            let used = ms - before.get(name).copied().unwrap_or(0.0);
            (name.clone(), used / per.max(1) as f64)
        })
        .filter(|(_, ms)| *ms > 0.0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_even_with_spaces_in_names() {
        let line =
            "4242 (V8 Worker) S 1 4200 4200 0 -1 4194560 100 0 0 0 150 25 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_stat(line), Some(("V8 Worker".into(), 4200, 175)));
        assert_eq!(parse_stat("garbage"), None);
        let before = BTreeMap::from([("a".to_owned(), 10.0)]);
        let after = BTreeMap::from([("a".to_owned(), 30.0), ("b".to_owned(), 0.0)]);
        assert_eq!(per_unit(&before, &after, 4), vec![("a".to_owned(), 5.0)]);
    }
}
