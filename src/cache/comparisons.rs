//! Conflict explanations in the cache (`model::comparisons`): one table of its own in the
//! same database, read whole at the start of a run (one entry per pair of variants that
//! were compared: small) and added to at its end. Losing it costs only a re-read of the
//! conflicting copies, so any failure here is silent and the run goes on without it.

use super::{open_for_reading, open_with, quiet_catch, Db, OpenError, FILE_NAME};
use crate::model::comparisons::{Comparisons, PairKey};
use redb::{ReadableTable, ReadableTableMetadata, TableDefinition};
use std::collections::HashMap;
use std::path::Path;

const COMPARISONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("comparisons");

/// Past this many entries the table is emptied before new ones are added (stores come
/// and go; a comparison is cheap to make again).
const MAX_ENTRIES: u64 = 200_000;

/// The comparisons the cache in `dir` holds (none when it has none or can't be read).
pub fn load(dir: &Path) -> Comparisons {
    let file = dir.join(FILE_NAME);
    let Ok(db) = open_for_reading(&file) else {
        return Comparisons::default();
    };
    let known = quiet_catch(|| -> Result<HashMap<PairKey, Vec<u8>>, String> {
        let txn = db.begin_read()?;
        let table = match txn.open_table(COMPARISONS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(HashMap::new()),
            Err(e) => return Err(e.to_string()),
        };
        let mut out = HashMap::new();
        for item in table.iter().map_err(|e| e.to_string())? {
            let (k, v) = item.map_err(|e| e.to_string())?;
            if let Ok(key) = PairKey::try_from(k.value()) {
                out.insert(key, v.value().to_vec());
            }
        }
        Ok(out)
    });
    match known {
        Some(Ok(k)) => Comparisons::from_known(k),
        _ => Comparisons::default(),
    }
}

/// Adds the comparisons made in this run to the cache in `dir`.
pub fn save(dir: &Path, comparisons: &Comparisons) {
    let added = comparisons.take_added();
    if added.is_empty() {
        return;
    }
    let file = dir.join(FILE_NAME);
    if !file.is_file() {
        return;
    }
    let db = match open_with(&file, true) {
        Ok(Db::Rw(db)) => db,
        Ok(Db::Ro(_))
        | Err(OpenError::NeedsRepair | OpenError::Busy(_) | OpenError::Corrupt(_)) => return,
    };
    let _ = quiet_catch(|| -> Result<(), String> {
        let e = |e: &dyn std::fmt::Display| e.to_string();
        let txn = db.begin_write().map_err(|x| e(&x))?;
        {
            let mut table = txn.open_table(COMPARISONS).map_err(|x| e(&x))?;
            if table.len().map_err(|x| e(&x))? + added.len() as u64 > MAX_ENTRIES {
                table.retain(|_, _| false).map_err(|x| e(&x))?;
            }
            for (k, v) in &added {
                table
                    .insert(k.as_slice(), v.as_slice())
                    .map_err(|x| e(&x))?;
            }
        }
        txn.commit().map_err(|x| e(&x))
    });
}
