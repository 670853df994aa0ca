//! The dependency graph as an SVG laid out on the server: a column per layer (a task's layer is
//! the longest chain of dependencies before it), edges from each dependency to its dependant,
//! boxes in their state's colour, and the critical path — the longest chain of work not yet
//! merged — drawn heavier. Past `MAX_NODES` only unfinished tasks are drawn, and past that
//! the page says so instead of drawing a wall.

use std::collections::{HashMap, HashSet};

use maud::{Markup, html};

use super::render::Column;
use crate::model::{TaskId, TaskState};
use crate::safe_text;
use crate::service::TaskListing;
use crate::store::TaskRecord;

/// The most boxes one drawing holds.
const MAX_NODES: usize = 200;
const BOX_W: i64 = 150;
const BOX_H: i64 = 30;
const GAP_X: i64 = 50;
const GAP_Y: i64 = 12;

pub(super) fn graph(listing: &TaskListing) -> Markup {
    let mut tasks: Vec<&TaskRecord> = listing.tasks.iter().collect();
    let mut note = None;
    if tasks.len() > MAX_NODES {
        tasks.retain(|t| !matches!(t.state, TaskState::Merged | TaskState::Cancelled));
        note = Some(format!("{} tasks not merged or cancelled", tasks.len()));
    }
    if tasks.len() > MAX_NODES {
        return html! {
            h2 { "Dependencies" }
            p.empty { (tasks.len()) " unfinished tasks: too many to draw; each task's page lists its own." }
        };
    }
    if tasks.is_empty() {
        return html! {};
    }
    let shown: HashSet<TaskId> = tasks.iter().map(|t| t.id).collect();
    let deps = |id: TaskId| -> Vec<TaskId> {
        let all = listing.dependencies.get(&id).map(Vec::as_slice).unwrap_or(&[]);
        all.iter().copied().filter(|d| shown.contains(d)).collect()
    };
    let layer = layers(&tasks, &deps);
    let critical = critical_path(&tasks, &deps);
    let mut rows: HashMap<usize, i64> = HashMap::new();
    let mut at: HashMap<TaskId, (i64, i64)> = HashMap::new();
    for task in &tasks {
        let column = layer[&task.id];
        let row = rows.entry(column).or_default();
        let x = i64::try_from(column).unwrap_or(0) * (BOX_W + GAP_X) + 4;
        at.insert(task.id, (x, *row * (BOX_H + GAP_Y) + 4));
        *row += 1;
    }
    let width = at.values().map(|(x, _)| x + BOX_W + 4).max().unwrap_or(0);
    let height = at.values().map(|(_, y)| y + BOX_H + 4).max().unwrap_or(0);
    let on_path =
        |a: TaskId, b: TaskId| critical.windows(2).any(|pair| pair[0] == a && pair[1] == b);
    html! {
        h2 { "Dependencies" }
        @if let Some(note) = note { p.empty { "Showing " (note) "." } }
        @if critical.len() > 1 {
            p { "Critical path: "
                @for (i, id) in critical.iter().enumerate() {
                    @if i > 0 { " → " }
                    a href=(format!("/task/{id}")) { (id.to_string()) }
                }
            }
        }
        div.graph {
            svg xmlns="http://www.w3.org/2000/svg" width=(width) height=(height)
                viewBox=(format!("0 0 {width} {height}")) role="img" aria-label="dependency graph" {
                @for task in &tasks {
                    @for dep in deps(task.id) {
                        @let (x1, y1) = at[&dep];
                        @let (x2, y2) = at[&task.id];
                        @let class = if on_path(dep, task.id) { "edge critical" } else { "edge" };
                        path class=(class) d=(format!(
                            "M{} {} C{} {} {} {} {} {}",
                            x1 + BOX_W, y1 + BOX_H / 2,
                            x1 + BOX_W + GAP_X / 2, y1 + BOX_H / 2,
                            x2 - GAP_X / 2, y2 + BOX_H / 2,
                            x2, y2 + BOX_H / 2
                        )) {}
                    }
                }
                @for task in &tasks {
                    @let (x, y) = at[&task.id];
                    @let column = Column::of(task);
                    @let class = if critical.contains(&task.id) { "node critical" } else { "node" };
                    a href=(format!("/task/{}", task.id)) {
                        g class=(format!("{class} {}", column.class())) {
                            title { (task.id.to_string()) " " (column.name()) ": " (safe_text::visible(&task.title)) }
                            rect x=(x) y=(y) width=(BOX_W) height=(BOX_H) rx="4" {}
                            text x=(x + 6) y=(y + 19) {
                                (column.symbol()) " " (task.id.to_string()) " " (short(&task.title))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A title cut to fit its box.
fn short(title: &str) -> String {
    let title = safe_text::one_line(title);
    match title.char_indices().nth(14) {
        Some((at, _)) => format!("{}…", &title[..at]),
        None => title.into_owned(),
    }
}

/// Each task's layer: 0 without dependencies, else one more than its deepest dependency's.
/// (The graph has no cycles: the service refuses them.)
fn layers(tasks: &[&TaskRecord], deps: &dyn Fn(TaskId) -> Vec<TaskId>) -> HashMap<TaskId, usize> {
    let mut layer: HashMap<TaskId, usize> = HashMap::new();
    let mut left: Vec<TaskId> = tasks.iter().map(|t| t.id).collect();
    // Each pass places every task whose dependencies are placed; a leftover (a cycle that
    // should not exist) goes in the last layer rather than hanging the page.
    for _ in 0..=tasks.len() {
        if left.is_empty() {
            break;
        }
        left.retain(|id| {
            let ds = deps(*id);
            if ds.iter().all(|d| layer.contains_key(d)) {
                let depth = ds.iter().map(|d| layer[d] + 1).max().unwrap_or(0);
                layer.insert(*id, depth);
                false
            } else {
                true
            }
        });
    }
    let last = layer.values().max().map_or(0, |m| m + 1);
    for id in left {
        layer.insert(id, last);
    }
    layer
}

/// The longest chain of unfinished tasks (counted in tasks), from its start to its end.
fn critical_path(tasks: &[&TaskRecord], deps: &dyn Fn(TaskId) -> Vec<TaskId>) -> Vec<TaskId> {
    let open: HashSet<TaskId> = tasks
        .iter()
        .filter(|t| !matches!(t.state, TaskState::Merged | TaskState::Cancelled))
        .map(|t| t.id)
        .collect();
    // In layer order every dependency is done before its dependant.
    let layer = layers(tasks, deps);
    let mut order: Vec<TaskId> = open.iter().copied().collect();
    order.sort_by_key(|id| (layer[id], *id));
    let mut best: HashMap<TaskId, (usize, Option<TaskId>)> = HashMap::new();
    for id in &order {
        let before = deps(*id)
            .into_iter()
            .filter(|d| open.contains(d))
            .max_by_key(|d| (best.get(d).map_or(0, |b| b.0), std::cmp::Reverse(*d)));
        let length = before.and_then(|d| best.get(&d)).map_or(0, |b| b.0) + 1;
        best.insert(*id, (length, before));
    }
    let Some(mut end) = order.iter().copied().max_by_key(|id| (best[id].0, std::cmp::Reverse(*id)))
    else {
        return Vec::new();
    };
    let mut path = vec![end];
    while let Some(previous) = best[&end].1 {
        path.push(previous);
        end = previous;
    }
    path.reverse();
    path
}
