//! RAM-style policies: the document grammar, its validation and its evaluation.
//!
//! A policy is `{"Version": "1", "Statement": [...]}`; each statement has an `Effect` (`Allow`
//! or `Deny`), `Action` or `NotAction`, `Resource` or `NotResource` (a string or a list of
//! patterns with `*` and `?` wildcards; actions compare without regard to case) and an optional
//! `Condition` block. Evaluation denies by default, and any matching `Deny` wins over every
//! `Allow`. In a condition block every operator must hold, every key under an operator must
//! hold, and one of a key's values suffices (for the negated operators: none may match); a key
//! the request does not carry fails a positive operator and satisfies a negated one.
//!
//! Documents are checked when they are created, so evaluation never meets a malformed one; a
//! refused document's error names the place of the fault, e.g.
//! `Statement[0].Condition.IpAddress.acs:SourceIp[1]`.
//!
//! The folder keeps one concern a file: [`pattern`] matches `*`/`?` wildcards, [`document`]
//! parses and checks a document, [`condition`] holds the condition operators and what a request
//! offers them, and this file evaluates checked policies.

mod condition;
mod document;
mod pattern;
#[cfg(test)]
mod tests;

pub use condition::RequestContext;

/// The condition keys a request offers, and so the only ones a policy may name.
pub const CONDITION_KEYS: [&str; 3] = ["acs:SourceIp", "acs:CurrentTime", "acs:SecureTransport"];
pub use pattern::wildcard_match;

use condition::{condition_holds, Condition};
use pattern::Matcher;

/// Why a policy document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PolicyError {
    /// Where in the document: `Statement[1].Action`.
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

pub(crate) fn fault(path: impl Into<String>, message: impl Into<String>) -> PolicyError {
    PolicyError {
        path: path.into(),
        message: message.into(),
    }
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Grants, unless a Deny matches.
    Allow,
    /// Refuses, whatever else allows.
    Deny,
}

/// The outcome of evaluating policies for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// An Allow matched and no Deny did.
    Allow,
    /// Nothing matched: denied by default.
    ImplicitDeny,
    /// A Deny matched.
    ExplicitDeny,
}

#[derive(Debug, Clone, PartialEq)]
struct Statement {
    effect: Effect,
    actions: Matcher,
    resources: Matcher,
    conditions: Vec<Condition>,
}

/// A checked policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    statements: Vec<Statement>,
}

/// Evaluates `policies` for `context`: an explicit Deny wins, then any Allow, else an implicit
/// deny.
pub fn evaluate<'p>(
    policies: impl IntoIterator<Item = &'p Policy>,
    context: &RequestContext,
) -> Verdict {
    let mut allowed = false;
    for policy in policies {
        for statement in &policy.statements {
            if statement.actions.matches(&context.action)
                && statement.resources.matches(&context.resource)
                && statement
                    .conditions
                    .iter()
                    .all(|c| condition_holds(c, context))
            {
                match statement.effect {
                    Effect::Deny => return Verdict::ExplicitDeny,
                    Effect::Allow => allowed = true,
                }
            }
        }
    }
    if allowed {
        Verdict::Allow
    } else {
        Verdict::ImplicitDeny
    }
}
