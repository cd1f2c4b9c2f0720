//! Plans and drift for people (text, a readable diff, colour only on a terminal) and for
//! machines (JSON, documented in docs/plan.md).

use std::fmt::Write;

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use super::drift::{DriftReport, same};
use super::plan::{Plan, PlannedResource, Status};
use crate::cfn::{Facet, View};

/// ANSI colour, or none.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub colour: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        match self.colour {
            true => format!("\x1b[{code}m{text}\x1b[0m"),
            false => text.to_string(),
        }
    }
    fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }
    fn red(self, text: &str) -> String {
        self.paint("31", text)
    }
    fn green(self, text: &str) -> String {
        self.paint("32", text)
    }
    fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }
}

pub fn plan_text(plan: &Plan, style: Style) -> String {
    let mut out = String::new();
    let live = match plan.live {
        true => ", read live",
        false => ", offline",
    };
    let _ = writeln!(
        out,
        "{}",
        style.bold(&format!(
            "plan of {} (stack {}{live})",
            plan.template, plan.stack_name
        ))
    );
    if !plan.placeholders.is_empty() {
        let _ = writeln!(
            out,
            "known only at deploy: {}",
            plan.placeholders.join(", ")
        );
    }
    for resource in &plan.resources {
        out.push('\n');
        resource_text(&mut out, resource, style);
    }
    let count = |status: Status| plan.resources.iter().filter(|r| r.status == status).count();
    let _ = writeln!(
        out,
        "\n{} planned, {} invalid, {} failing, {} skipped; {} other resources (CloudFormation's own)",
        count(Status::Planned),
        count(Status::Invalid),
        count(Status::Failing),
        count(Status::Skipped),
        plan.other_resources
    );
    out
}

fn resource_text(out: &mut String, resource: &PlannedResource, style: Style) {
    let status = match resource.status {
        Status::Planned => style.green("planned"),
        Status::Invalid => style.red("INVALID"),
        Status::Failing => style.red("WOULD FAIL"),
        Status::Skipped => style.dim("skipped"),
    };
    let _ = writeln!(
        out,
        "{} ({}): {status}",
        style.bold(&resource.logical_id),
        resource.resource_type
    );
    for problem in &resource.problems {
        let _ = writeln!(
            out,
            "  {} {}: {}",
            style.red("✗"),
            problem.path,
            problem.message
        );
    }
    for problem in &resource.unchecked {
        let _ = writeln!(
            out,
            "  ? {}: checked at deploy ({})",
            problem.path, problem.message
        );
    }
    if let Some(reason) = &resource.reason {
        let _ = writeln!(out, "  {reason}");
    }
    let Some(planned) = &resource.planned else {
        return;
    };
    let _ = writeln!(out, "  {}", planned.target);
    for facet in &planned.facets {
        match &resource.current {
            Some(current) => facet_change(out, facet, current, style),
            None => facet_value(out, &facet.name, facet.value.as_ref()),
        }
    }
    for note in &planned.notes {
        let _ = writeln!(out, "  {} {note}", style.dim("note:"));
    }
}

fn facet_value(out: &mut String, name: &str, value: Option<&Value>) {
    match value {
        None => {
            let _ = writeln!(out, "  {name}: none");
        }
        Some(value @ (Value::Array(_) | Value::Object(_))) => {
            let _ = writeln!(out, "  {name}:");
            for line in pretty(value).lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
        Some(Value::String(s)) if s.is_empty() => {
            let _ = writeln!(out, "  {name}: (empty)");
        }
        Some(Value::String(s)) => {
            let _ = writeln!(out, "  {name}: {s}");
        }
        Some(other) => {
            let _ = writeln!(out, "  {name}: {other}");
        }
    }
}

/// A facet before and after: unchanged, or a line diff of the two documents.
fn facet_change(out: &mut String, facet: &Facet, current: &View, style: Style) {
    let before = current.facet(&facet.name).and_then(|f| f.value.clone());
    if same(before.as_ref(), facet.value.as_ref()) {
        let _ = writeln!(out, "  {}: {}", facet.name, style.dim("unchanged"));
        return;
    }
    let _ = writeln!(out, "  {}: {}", facet.name, style.bold("changes"));
    out.push_str(&diff(before.as_ref(), facet.value.as_ref(), "    ", style));
}

/// A line diff of two documents, `-` before and `+` after.
pub fn diff(before: Option<&Value>, after: Option<&Value>, indent: &str, style: Style) -> String {
    let before = before.map(pretty).unwrap_or_else(|| "(none)".to_string());
    let after = after.map(pretty).unwrap_or_else(|| "(none)".to_string());
    let mut out = String::new();
    for change in TextDiff::from_lines(&before, &after).iter_all_changes() {
        let line = change.value().trim_end_matches('\n');
        let shown = match change.tag() {
            ChangeTag::Delete => style.red(&format!("- {line}")),
            ChangeTag::Insert => style.green(&format!("+ {line}")),
            ChangeTag::Equal => format!("  {line}"),
        };
        let _ = writeln!(out, "{indent}{shown}");
    }
    out
}

fn pretty(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_else(|_| other.to_string()),
    }
}

/// `validate`: only the problems, one per line, as `file: Resources.X.Properties.P: why`.
pub fn problems_text(plan: &Plan) -> String {
    let mut out = String::new();
    for resource in &plan.resources {
        for problem in &resource.problems {
            let _ = writeln!(
                out,
                "{}: Resources.{}.Properties.{}: {} ({})",
                plan.template,
                resource.logical_id,
                problem.path,
                problem.message,
                resource.resource_type
            );
        }
        if resource.status == Status::Failing {
            let _ = writeln!(
                out,
                "{}: Resources.{}: {}",
                plan.template,
                resource.logical_id,
                resource.reason.clone().unwrap_or_default()
            );
        }
    }
    if out.is_empty() {
        let checked = plan
            .resources
            .iter()
            .filter(|r| r.status != Status::Skipped)
            .count();
        let noun = match checked {
            1 => "resource",
            _ => "resources",
        };
        let _ = writeln!(out, "{}: {checked} {noun} valid", plan.template);
    }
    out
}

pub fn drift_text(report: &DriftReport, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        style.bold(&format!(
            "drift of stack {} ({})",
            report.stack_name, report.stack_id
        ))
    );
    let _ = writeln!(out, "- what the stack's properties make, + what is there");
    for difference in &report.differences {
        let _ = writeln!(
            out,
            "\n{} {}: {}",
            style.bold(&difference.logical_id),
            difference.facet,
            style.red("drifted")
        );
        out.push_str(&diff(
            difference.expected.as_ref(),
            difference.found.as_ref(),
            "  ",
            style,
        ));
    }
    for (logical_id, why) in &report.not_compared {
        let _ = writeln!(out, "\n{logical_id}: not compared: {why}");
    }
    let verdict = match report.in_sync() {
        true => style.green("in sync"),
        false => style.red(&format!(
            "{} differences, {} resources not compared",
            report.differences.len(),
            report.not_compared.len()
        )),
    };
    let _ = writeln!(
        out,
        "\n{} resources of vendor-access: {verdict}",
        report.resources
    );
    out
}
