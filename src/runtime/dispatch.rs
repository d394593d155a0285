//! The one order in which every front end (the editor's loop, its start-up, the assistant
//! benchmark and the tests that drive an `App`) handles a message and what follows from it.
//! Before, the editor ran results depth first and the benchmark breadth first, so a benchmark
//! could pass on an order the editor never produced.

use std::collections::VecDeque;

use crate::app::{App, Effect, Msg};

/// Handles `msg` and all that follows from it: the effects it asks for run in order through
/// `run` (the front end's own for the effects that need a terminal, `Runtime::run` for the
/// rest), and their results are handled the same way, depth first, before anything queued
/// after `msg`: keys typed after a save must apply to the state the save's result describes.
pub fn handle(app: &mut App, msg: Msg, run: impl FnMut(Effect) -> Vec<Msg>) {
    settle(VecDeque::from([msg]), |msg| app.update(msg), run);
}

/// Runs `effects` (the start of the assistant, say) and handles their results as `handle` does.
pub fn run_effects(app: &mut App, effects: Vec<Effect>, mut run: impl FnMut(Effect) -> Vec<Msg>) {
    let results = effects.into_iter().flat_map(&mut run).collect();
    settle(results, |msg| app.update(msg), run);
}

/// The order itself, apart from `App` so a test can watch it: each message's effects all run,
/// then their results go to the front of the queue in the order they came.
fn settle<M, E>(
    mut queue: VecDeque<M>,
    mut update: impl FnMut(M) -> Vec<E>,
    mut run: impl FnMut(E) -> Vec<M>,
) {
    while let Some(msg) = queue.pop_front() {
        let results: Vec<M> = update(msg).into_iter().flat_map(&mut run).collect();
        for result in results.into_iter().rev() {
            queue.push_front(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Messages and effects as names; `update` asks for the effects listed for a message, and
    /// each effect's result is the message named after it.
    fn order(first: &[&'static str], effects: &[(&str, &[&'static str])]) -> Vec<String> {
        let log = RefCell::new(Vec::new());
        settle(
            first.iter().copied().collect(),
            |msg: &'static str| {
                log.borrow_mut().push(format!("update {msg}"));
                effects
                    .iter()
                    .find(|(m, _)| *m == msg)
                    .map(|(_, e)| e.to_vec())
                    .unwrap_or_default()
            },
            |effect: &'static str| {
                log.borrow_mut().push(format!("run {effect}"));
                vec![effect]
            },
        );
        log.into_inner()
    }

    #[test]
    fn results_are_handled_before_the_messages_queued_after_them() {
        let log = order(
            &["save", "key"],
            &[("save", &["saved", "journal"]), ("saved", &["title"])],
        );
        assert_eq!(
            log,
            [
                "update save",
                "run saved",
                "run journal",
                "update saved",
                "run title",
                "update title",
                "update journal",
                "update key",
            ]
        );
    }

    #[test]
    fn every_effect_of_a_message_runs_before_any_result_is_handled() {
        let log = order(&["start"], &[("start", &["load", "config"])]);
        assert_eq!(
            log,
            [
                "update start",
                "run load",
                "run config",
                "update load",
                "update config"
            ]
        );
    }
}
