//! The fast path of a merge: a three-way merge of trees that settles every path only one side
//! changed, reusing every subtree neither side touched, so merging a task that changed three
//! files into a 10,000-file repository reads and writes a handful of tree objects instead of
//! building a full index and re-hashing every tree.
//!
//! It answers `None` as soon as both sides changed the same path differently (content to merge,
//! a rename to detect, a file against a directory): those go to git2's full merge, which knows
//! how. So wherever this answers, git's own merge gives the same tree.

use std::collections::BTreeMap;

use git2::{FileMode, Oid, Repository, Tree};

/// One tree entry as the merge compares it: identical object and mode, or different.
type Entry = (Oid, i32);

const TREE_MODE: i32 = 0o040_000;

/// The merged tree of `ours` and `theirs` over their merge base `base`, or `None` when some path
/// needs a content-level merge.
pub(super) fn merge_trees(
    repo: &Repository,
    base: Oid,
    ours: Oid,
    theirs: Oid,
) -> Result<Option<Oid>, git2::Error> {
    merge_subtrees(repo, Some(base), ours, theirs)
}

fn merge_subtrees(
    repo: &Repository,
    base: Option<Oid>,
    ours: Oid,
    theirs: Oid,
) -> Result<Option<Oid>, git2::Error> {
    if ours == theirs || base == Some(theirs) {
        return Ok(Some(ours));
    }
    if base == Some(ours) {
        return Ok(Some(theirs));
    }
    let base_entries = match base {
        Some(oid) => entries(&repo.find_tree(oid)?),
        None => BTreeMap::new(),
    };
    let ours_tree = repo.find_tree(ours)?;
    let ours_entries = entries(&ours_tree);
    let theirs_entries = entries(&repo.find_tree(theirs)?);
    let mut names: Vec<&Vec<u8>> =
        ours_entries.keys().chain(theirs_entries.keys()).chain(base_entries.keys()).collect();
    names.sort();
    names.dedup();
    // Start from our tree and apply only what theirs changed.
    let mut builder = repo.treebuilder(Some(&ours_tree))?;
    for name in names {
        let b = base_entries.get(name).copied();
        let o = ours_entries.get(name).copied();
        let t = theirs_entries.get(name).copied();
        if o == t || b == t {
            continue;
        }
        if b == o {
            match t {
                Some((oid, mode)) => {
                    builder.insert(name.as_slice(), oid, mode)?;
                }
                None => builder.remove(name.as_slice())?,
            }
            continue;
        }
        // Both sides changed this entry: only two directories can still merge here.
        let (Some((o_oid, TREE_MODE)), Some((t_oid, TREE_MODE))) = (o, t) else {
            return Ok(None);
        };
        let b_oid = match b {
            Some((oid, TREE_MODE)) => Some(oid),
            None => None,
            Some(_) => return Ok(None),
        };
        match merge_subtrees(repo, b_oid, o_oid, t_oid)? {
            // Git stores no empty directories: both sides emptied it between them.
            Some(merged) if repo.find_tree(merged)?.is_empty() => {
                builder.remove(name.as_slice())?;
            }
            Some(merged) => {
                builder.insert(name.as_slice(), merged, i32::from(FileMode::Tree))?;
            }
            None => return Ok(None),
        }
    }
    builder.write().map(Some)
}

fn entries(tree: &Tree<'_>) -> BTreeMap<Vec<u8>, Entry> {
    tree.iter().map(|entry| (entry.name_bytes().to_vec(), (entry.id(), entry.filemode()))).collect()
}

#[cfg(test)]
mod tests {
    //! Every answer of the fast path is checked against git2's full (index) merge of the same
    //! trees, over generated histories where the two sides touch overlapping or disjoint paths.

    use std::collections::BTreeMap;

    use git2::{Index, IndexEntry, IndexTime, Oid, Repository};

    use super::merge_trees;

    /// path → (content, executable)
    type Files = BTreeMap<String, (String, bool)>;

    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            usize::try_from(self.0 % n as u64).unwrap_or(0)
        }
    }

    fn write_tree(repo: &Repository, files: &Files) -> Oid {
        let mut index = Index::new().unwrap();
        for (path, (content, executable)) in files {
            let blob = repo.blob(content.as_bytes()).unwrap();
            let time = IndexTime::new(0, 0);
            index
                .add(&IndexEntry {
                    ctime: time,
                    mtime: time,
                    dev: 0,
                    ino: 0,
                    mode: if *executable { 0o100_755 } else { 0o100_644 },
                    uid: 0,
                    gid: 0,
                    file_size: 0,
                    id: blob,
                    flags: 0,
                    flags_extended: 0,
                    path: path.as_bytes().to_vec(),
                })
                .unwrap();
        }
        index.write_tree_to(repo).unwrap()
    }

    /// Changes a few paths drawn from `pool`: edits, additions (also in new directories),
    /// deletions (also of whole directories) and mode changes.
    fn change(files: &Files, pool: &[String], rng: &mut Rng, tag: &str) -> Files {
        let mut changed = files.clone();
        for _ in 0..1 + rng.below(4) {
            let path = &pool[rng.below(pool.len())];
            match rng.below(5) {
                0 => {
                    changed.remove(path);
                }
                1 => {
                    let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir).to_owned();
                    changed.retain(|p, _| dir.is_empty() || !p.starts_with(&format!("{dir}/")));
                }
                2 => {
                    if let Some(entry) = changed.get_mut(path) {
                        entry.1 = !entry.1;
                    }
                }
                _ => {
                    changed.insert(path.clone(), (format!("{tag} wrote {path}\n"), false));
                }
            }
        }
        changed
    }

    #[test]
    fn wherever_the_fast_path_answers_it_agrees_with_the_full_merge() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let mut rng = Rng(0x5eed_1234);
        let mut pool: Vec<String> = Vec::new();
        for d in 0..4 {
            for f in 0..4 {
                pool.push(format!("d{d}/f{f}.txt"));
                pool.push(format!("d{d}/sub/g{f}.txt"));
            }
            pool.push(format!("top{d}.txt"));
        }
        let (mut answered, mut disjoint) = (0, 0);
        for round in 0..400 {
            let base: Files = pool
                .iter()
                .filter(|_| rng.below(3) > 0)
                .map(|p| (p.clone(), (format!("base {p}\n"), false)))
                .collect();
            // Half the rounds give each side its own half of the paths: nothing overlaps.
            let split = round % 2 == 0;
            let (ours_pool, theirs_pool) = if split {
                let (a, b): (Vec<_>, Vec<_>) =
                    pool.iter().cloned().partition(|p| p.starts_with("d0") || p.starts_with("d1"));
                (a, b)
            } else {
                (pool.clone(), pool.clone())
            };
            let ours = change(&base, &ours_pool, &mut rng, "ours");
            let theirs = change(&base, &theirs_pool, &mut rng, "theirs");
            let (b, o, t) =
                (write_tree(&repo, &base), write_tree(&repo, &ours), write_tree(&repo, &theirs));
            let fast = merge_trees(&repo, b, o, t).unwrap();
            let (bt, ot, tt) = (
                repo.find_tree(b).unwrap(),
                repo.find_tree(o).unwrap(),
                repo.find_tree(t).unwrap(),
            );
            let mut full = repo.merge_trees(&bt, &ot, &tt, None).unwrap();
            if split {
                disjoint += 1;
                assert!(fast.is_some(), "round {round}: disjoint changes must take the fast path");
            }
            if let Some(tree) = fast {
                answered += 1;
                assert!(!full.has_conflicts(), "round {round}: the full merge conflicts");
                assert_eq!(tree, full.write_tree_to(&repo).unwrap(), "round {round}");
            }
        }
        assert_eq!(disjoint, 200);
        assert!(answered > 250, "the fast path answered only {answered} of 400");
    }
}
