//! The dependency graph: reachability and cycle detection, generic over how neighbours are found
//! so the store can answer from SQL and the importer from memory.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

/// A path `from → … → to` following `neighbours` edges, if one exists (iterative DFS).
///
/// Adding the edge `to → from` would close a cycle exactly when this returns `Some`; the path plus
/// `from` again is the cycle to name in the error.
pub fn path_between<N, E>(
    from: N,
    to: N,
    mut neighbours: impl FnMut(N) -> Result<Vec<N>, E>,
) -> Result<Option<Vec<N>>, E>
where
    N: Copy + Eq + Hash,
{
    if from == to {
        return Ok(Some(vec![from]));
    }
    let mut parent: HashMap<N, N> = HashMap::new();
    let mut seen: HashSet<N> = HashSet::from([from]);
    let mut stack = vec![from];
    while let Some(node) = stack.pop() {
        for next in neighbours(node)? {
            if !seen.insert(next) {
                continue;
            }
            parent.insert(next, node);
            if next == to {
                let mut path = vec![to];
                let mut cursor = to;
                while let Some(&previous) = parent.get(&cursor) {
                    path.push(previous);
                    cursor = previous;
                }
                path.reverse();
                return Ok(Some(path));
            }
            stack.push(next);
        }
    }
    Ok(None)
}

/// Any cycle in a whole graph given as adjacency lists, as the list of nodes along it with the
/// first node repeated at the end (`a → b → a`). Nodes are visited in the order given, so the
/// cycle reported is deterministic.
pub fn find_cycle<N>(nodes: &[N], edges: &HashMap<N, Vec<N>>) -> Option<Vec<N>>
where
    N: Copy + Eq + Hash,
{
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        OnStack,
        Done,
    }
    let mut marks: HashMap<N, Mark> = HashMap::new();
    for &root in nodes {
        if marks.contains_key(&root) {
            continue;
        }
        // Each frame is a node and the index of the next neighbour to explore.
        let mut stack: Vec<(N, usize)> = vec![(root, 0)];
        marks.insert(root, Mark::OnStack);
        while let Some(&mut (node, ref mut next_index)) = stack.last_mut() {
            let neighbours = edges.get(&node).map(Vec::as_slice).unwrap_or(&[]);
            if let Some(&next) = neighbours.get(*next_index) {
                *next_index += 1;
                match marks.get(&next) {
                    Some(Mark::OnStack) => {
                        let start = stack.iter().position(|&(n, _)| n == next).unwrap_or(0);
                        let mut cycle: Vec<N> = stack[start..].iter().map(|&(n, _)| n).collect();
                        cycle.push(next);
                        return Some(cycle);
                    }
                    Some(Mark::Done) => {}
                    None => {
                        marks.insert(next, Mark::OnStack);
                        stack.push((next, 0));
                    }
                }
            } else {
                marks.insert(node, Mark::Done);
                stack.pop();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;

    fn graph(edges: &[(u32, u32)]) -> HashMap<u32, Vec<u32>> {
        let mut map: HashMap<u32, Vec<u32>> = HashMap::new();
        for &(a, b) in edges {
            map.entry(a).or_default().push(b);
        }
        map
    }

    fn path(edges: &[(u32, u32)], from: u32, to: u32) -> Option<Vec<u32>> {
        let map = graph(edges);
        path_between(from, to, |n| Ok::<_, Infallible>(map.get(&n).cloned().unwrap_or_default()))
            .unwrap()
    }

    #[test]
    fn finds_the_path_it_walks() {
        assert_eq!(path(&[(1, 2), (2, 3), (3, 4)], 1, 4), Some(vec![1, 2, 3, 4]));
        assert_eq!(path(&[(1, 2), (2, 3)], 3, 1), None);
        assert_eq!(path(&[], 5, 5), Some(vec![5]));
    }

    #[test]
    fn diamond_has_no_cycle_but_a_back_edge_does() {
        let diamond = graph(&[(1, 2), (1, 3), (2, 4), (3, 4)]);
        assert_eq!(find_cycle(&[1, 2, 3, 4], &diamond), None);
        let looped = graph(&[(1, 2), (2, 3), (3, 1), (4, 1)]);
        assert_eq!(find_cycle(&[4, 1, 2, 3], &looped), Some(vec![1, 2, 3, 1]));
        let self_loop = graph(&[(7, 7)]);
        assert_eq!(find_cycle(&[7], &self_loop), Some(vec![7, 7]));
    }

    #[test]
    fn long_chains_do_not_overflow_the_stack() {
        let edges: Vec<(u32, u32)> = (0..200_000).map(|i| (i, i + 1)).collect();
        let map = graph(&edges);
        let nodes: Vec<u32> = (0..=200_000).collect();
        assert_eq!(find_cycle(&nodes, &map), None);
    }
}
