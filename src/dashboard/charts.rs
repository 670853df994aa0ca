//! The run's two small charts, as SVG drawn on the server: tasks merged over time against the
//! plan's total, and the agents' cost over time (each agent's cost counted when it last
//! reported). Plus the merge and bounce counts beside them.

use maud::{Markup, html};

use crate::model::{MergeState, Timestamp};
use crate::store::AgentRecord;

const W: f64 = 320.0;
const H: f64 = 90.0;
const PAD: f64 = 6.0;

/// A step line through `points` (time, value), scaled to the box; time runs from `start` to `now`.
fn steps(points: &[(Timestamp, f64)], start: Timestamp, now: Timestamp, top: f64) -> String {
    let span = (now.0 - start.0).max(1) as f64;
    let x = |t: Timestamp| PAD + (W - 2.0 * PAD) * ((t.0 - start.0).max(0) as f64 / span);
    let y = |v: f64| H - PAD - (H - 2.0 * PAD) * (v / top.max(f64::MIN_POSITIVE));
    let mut d = format!("M{:.1} {:.1}", x(start), y(0.0));
    let mut last = 0.0;
    for (at, value) in points {
        d.push_str(&format!(" L{:.1} {:.1} L{:.1} {:.1}", x(*at), y(last), x(*at), y(*value)));
        last = *value;
    }
    d.push_str(&format!(" L{:.1} {:.1}", x(now), y(last)));
    d
}

/// The charts section: merged over time against `total`, cost over time.
pub(super) fn charts(
    merges: &[(MergeState, Timestamp)],
    agents: &[AgentRecord],
    total: u64,
    now: Timestamp,
) -> Markup {
    let merged: Vec<Timestamp> =
        merges.iter().filter(|(s, _)| *s == MergeState::Merged).map(|(_, at)| *at).collect();
    let bounced = merges.iter().filter(|(s, _)| *s == MergeState::Conflict).count();
    let failed = merges.iter().filter(|(s, _)| *s == MergeState::Failed).count();
    let mut spent: Vec<(Timestamp, f64)> = agents
        .iter()
        .filter(|a| a.usage.cost_usd > 0.0)
        .map(|a| (a.updated_at, a.usage.cost_usd))
        .collect();
    spent.sort_by_key(|(at, _)| *at);
    let start = [
        merged.first().copied(),
        spent.first().map(|s| s.0),
        agents.iter().map(|a| a.created_at).min(),
    ]
    .into_iter()
    .flatten()
    .min()
    .unwrap_or(now);
    let merged_points: Vec<(Timestamp, f64)> =
        merged.iter().enumerate().map(|(i, at)| (*at, (i + 1) as f64)).collect();
    let mut cost = 0.0;
    let cost_points: Vec<(Timestamp, f64)> = spent
        .iter()
        .map(|(at, c)| {
            cost += c;
            (*at, cost)
        })
        .collect();
    let total_y = PAD;
    html! {
        h2 { "The run" }
        p {
            (merged.len()) " of " (total) " merged · " (bounced) " bounced back · " (failed) " merge(s) failed · $"
            (format!("{cost:.2}")) " spent"
        }
        div.charts {
            figure {
                svg xmlns="http://www.w3.org/2000/svg" width=(W) height=(H) viewBox=(format!("0 0 {W} {H}"))
                    role="img" aria-label=(format!("{} of {total} tasks merged over time", merged.len())) {
                    line.total x1=(PAD) x2=(W - PAD) y1=(total_y) y2=(total_y) {}
                    path.series.s-merged d=(steps(&merged_points, start, now, total as f64)) {}
                }
                figcaption { "Tasks merged over time (dashed: the plan's " (total) ")" }
            }
            figure {
                svg xmlns="http://www.w3.org/2000/svg" width=(W) height=(H) viewBox=(format!("0 0 {W} {H}"))
                    role="img" aria-label=(format!("${cost:.2} spent over time")) {
                    path.series.s-working d=(steps(&cost_points, start, now, cost)) {}
                }
                figcaption { "Cost over time ($" (format!("{cost:.2}")) ")" }
            }
        }
    }
}
