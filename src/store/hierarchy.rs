//! Initiatives, phases and plans: the containers tasks live in. Imports upsert them by key.

use serde_json::json;

use super::sql::{Row, args};
use super::{StoreError, Tx};
use crate::model::{InitiativeId, PhaseId, PlanId, Timestamp};

/// An initiative row.
#[derive(Debug, Clone, PartialEq)]
pub struct InitiativeRecord {
    pub id: InitiativeId,
    pub key: Option<String>,
    pub title: String,
    pub description: String,
}

/// A phase row.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseRecord {
    pub id: PhaseId,
    pub initiative: InitiativeId,
    pub key: String,
    pub number: String,
    pub seq: i64,
    pub title: String,
    pub description: String,
}

/// A plan row.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRecord {
    pub id: PlanId,
    pub phase: Option<PhaseId>,
    pub key: Option<String>,
    pub seq: i64,
    pub title: String,
    pub description: String,
    pub wave: Option<i64>,
    pub source: Option<String>,
}

/// The fields an import writes for an initiative.
#[derive(Debug, Clone)]
pub struct InitiativeUpsert {
    pub key: String,
    pub title: String,
    pub description: String,
    pub metadata: String,
}

/// The fields an import writes for a phase.
#[derive(Debug, Clone)]
pub struct PhaseUpsert {
    pub key: String,
    pub number: String,
    pub seq: i64,
    pub title: String,
    pub description: String,
    pub metadata: String,
}

/// The fields an import (or `cw task add --plan`) writes for a plan.
#[derive(Debug, Clone)]
pub struct PlanUpsert {
    pub key: String,
    pub seq: i64,
    pub title: String,
    pub description: String,
    pub wave: Option<i64>,
    pub source: Option<String>,
    pub metadata: String,
}

impl Tx<'_> {
    /// Inserts or refreshes the initiative with `key`; returns its id.
    pub fn upsert_initiative(
        &self,
        row: &InitiativeUpsert,
        now: Timestamp,
    ) -> Result<InitiativeId, StoreError> {
        let existing: Option<i64> =
            self.query_opt("SELECT id FROM initiatives WHERE key = ?1", args![&row.key], |r| {
                r.get(0)
            })?;
        if let Some(id) = existing {
            self.execute(
                "UPDATE initiatives SET title = ?2, description = ?3, metadata = ?4 WHERE id = ?1",
                args![id, row.title, row.description, row.metadata],
            )?;
            return Ok(InitiativeId(id));
        }
        let id = self.query_one("INSERT INTO initiatives (key, title, description, metadata, created_at) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id", args![row.key, row.title, row.description, row.metadata, now.0], |r| r.get(0).map(InitiativeId))?;
        self.append_event(
            now,
            "initiative.created",
            None,
            None,
            &json!({ "id": id.to_string(), "title": row.title }),
        )?;
        Ok(id)
    }

    /// Inserts or refreshes the phase with `key` in `initiative`; returns its id.
    pub fn upsert_phase(
        &self,
        initiative: InitiativeId,
        row: &PhaseUpsert,
        now: Timestamp,
    ) -> Result<PhaseId, StoreError> {
        let existing: Option<i64> = self.query_opt(
            "SELECT id FROM phases WHERE initiative_id = ?1 AND key = ?2",
            args![initiative.0, row.key],
            |r| r.get(0),
        )?;
        if let Some(id) = existing {
            self.execute("UPDATE phases SET number = ?2, seq = ?3, title = ?4, description = ?5, metadata = ?6 WHERE id = ?1", args![id, row.number, row.seq, row.title, row.description, row.metadata])?;
            return Ok(PhaseId(id));
        }
        let id = self.query_one(
            "INSERT INTO phases (initiative_id, key, number, seq, title, description, metadata)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
            args![
                initiative.0,
                row.key,
                row.number,
                row.seq,
                row.title,
                row.description,
                row.metadata
            ],
            |r| r.get(0).map(PhaseId),
        )?;
        self.append_event(
            now,
            "phase.created",
            None,
            None,
            &json!({ "id": id.to_string(), "title": row.title }),
        )?;
        Ok(id)
    }

    /// Replaces the recorded phase-level dependencies of `phase`.
    pub fn set_phase_dependencies(
        &self,
        phase: PhaseId,
        depends_on: &[PhaseId],
    ) -> Result<(), StoreError> {
        self.execute("DELETE FROM phase_deps WHERE phase_id = ?1", args![phase.0])?;
        for dep in depends_on {
            self.execute("INSERT INTO phase_deps (phase_id, depends_on) VALUES (?1, ?2) ON CONFLICT DO NOTHING", args![phase.0, dep.0])?;
        }
        Ok(())
    }

    /// Inserts or refreshes the plan with `key` in `phase`; returns its id.
    pub fn upsert_plan(
        &self,
        phase: Option<PhaseId>,
        row: &PlanUpsert,
        now: Timestamp,
    ) -> Result<PlanId, StoreError> {
        let existing: Option<i64> = self.query_opt(
            "SELECT id FROM plans WHERE phase_id IS NOT DISTINCT FROM ?1 AND key = ?2",
            args![phase.map(PhaseId::get), row.key],
            |r| r.get(0),
        )?;
        if let Some(id) = existing {
            self.execute("UPDATE plans SET seq = ?2, title = ?3, description = ?4, wave = ?5, source = ?6, metadata = ?7 WHERE id = ?1", args![id, row.seq, row.title, row.description, row.wave, row.source, row.metadata])?;
            return Ok(PlanId(id));
        }
        let id = self.query_one("INSERT INTO plans (phase_id, key, seq, title, description, wave, source, metadata, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id", args![phase.map(PhaseId::get), row.key, row.seq, row.title, row.description, row.wave, row.source, row.metadata, now.0], |r| r.get(0).map(PlanId))?;
        self.append_event(
            now,
            "plan.created",
            None,
            None,
            &json!({ "id": id.to_string(), "title": row.title }),
        )?;
        Ok(id)
    }

    /// Replaces the recorded plan-level dependencies of `plan`.
    pub fn set_plan_dependencies(
        &self,
        plan: PlanId,
        depends_on: &[PlanId],
    ) -> Result<(), StoreError> {
        self.execute("DELETE FROM plan_deps WHERE plan_id = ?1", args![plan.0])?;
        for dep in depends_on {
            self.execute("INSERT INTO plan_deps (plan_id, depends_on) VALUES (?1, ?2) ON CONFLICT DO NOTHING", args![plan.0, dep.0])?;
        }
        Ok(())
    }

    /// Every initiative, oldest first.
    pub fn initiatives(&self) -> Result<Vec<InitiativeRecord>, StoreError> {
        self.query_all(
            "SELECT id, key, title, description FROM initiatives ORDER BY id",
            args![],
            |r| {
                Ok(InitiativeRecord {
                    id: InitiativeId(r.get(0)?),
                    key: r.get(1)?,
                    title: r.get(2)?,
                    description: r.get(3)?,
                })
            },
        )
    }

    /// Every phase, by initiative then numeric order.
    pub fn phases(&self) -> Result<Vec<PhaseRecord>, StoreError> {
        self.query_all("SELECT id, initiative_id, key, number, seq, title, description FROM phases ORDER BY initiative_id, seq", args![], phase_from_row)
    }

    /// One phase, or `None` if the id is unknown.
    pub fn phase(&self, id: PhaseId) -> Result<Option<PhaseRecord>, StoreError> {
        self.query_opt("SELECT id, initiative_id, key, number, seq, title, description FROM phases WHERE id = ?1", args![id.0], phase_from_row)
    }

    /// Every plan, by phase then order.
    pub fn plans(&self) -> Result<Vec<PlanRecord>, StoreError> {
        self.query_all("SELECT id, phase_id, key, seq, title, description, wave, source FROM plans ORDER BY phase_id, seq, id", args![], plan_from_row)
    }

    /// One plan, or `None` if the id is unknown.
    pub fn plan(&self, id: PlanId) -> Result<Option<PlanRecord>, StoreError> {
        self.query_opt("SELECT id, phase_id, key, seq, title, description, wave, source FROM plans WHERE id = ?1", args![id.0], plan_from_row)
    }

    /// Plans whose key is `key`, in any phase.
    pub fn plans_with_key(&self, key: &str) -> Result<Vec<PlanRecord>, StoreError> {
        self.query_all("SELECT id, phase_id, key, seq, title, description, wave, source FROM plans WHERE key = ?1 ORDER BY id", args![key], plan_from_row)
    }

    /// The phases of one initiative keyed by their key.
    pub fn phases_of(&self, initiative: InitiativeId) -> Result<Vec<PhaseRecord>, StoreError> {
        Ok(self.phases()?.into_iter().filter(|p| p.initiative == initiative).collect())
    }

    /// The plans of one phase.
    pub fn plans_of(&self, phase: PhaseId) -> Result<Vec<PlanRecord>, StoreError> {
        self.query_all("SELECT id, phase_id, key, seq, title, description, wave, source FROM plans WHERE phase_id = ?1 ORDER BY seq, id", args![phase.0], plan_from_row)
    }
}

fn phase_from_row(r: &Row<'_>) -> Result<PhaseRecord, String> {
    Ok(PhaseRecord {
        id: PhaseId(r.get(0)?),
        initiative: InitiativeId(r.get(1)?),
        key: r.get(2)?,
        number: r.get(3)?,
        seq: r.get(4)?,
        title: r.get(5)?,
        description: r.get(6)?,
    })
}

fn plan_from_row(r: &Row<'_>) -> Result<PlanRecord, String> {
    Ok(PlanRecord {
        id: PlanId(r.get(0)?),
        phase: r.get::<Option<i64>>(1)?.map(PhaseId),
        key: r.get(2)?,
        seq: r.get(3)?,
        title: r.get(4)?,
        description: r.get(5)?,
        wave: r.get(6)?,
        source: r.get(7)?,
    })
}
