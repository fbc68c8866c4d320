//! Runs a file of end-to-end cases against one shared local stack (libtest-mimic): the cases
//! run one after another on one runtime, each after the fake Bedrock's faults and counters are
//! cleared, and the Worker's log is printed when any case fails.

use crate::stack::Stack;
use libtest_mimic::{Arguments, Failed, Trial};
use std::{future::Future, sync::Arc};
use tokio::runtime::Runtime;

/// What a test file shares between its cases: at least a runtime and a stack.
pub trait StackWorld: Send + Sync + 'static {
    fn runtime(&self) -> &Runtime;
    fn stack(&self) -> &Stack;
}

/// One named case.
pub fn case<W, F, Fut>(world: &Arc<W>, name: &'static str, test: F) -> Trial
where
    W: StackWorld,
    F: Fn(Arc<W>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let world = world.clone();
    Trial::test(name, move || {
        if let Some(fake) = &world.stack().fake {
            fake.reset();
        }
        world
            .runtime()
            .block_on(test(world.clone()))
            .map_err(|e| Failed::from(format!("{e:#}")))
    })
}

/// Runs the cases sequentially, stops the stack, and exits with libtest's status.
pub fn run<W: StackWorld>(args: Arguments, world: Arc<W>, cases: Vec<Trial>) -> ! {
    let conclusion = libtest_mimic::run(
        &Arguments {
            test_threads: Some(1),
            ..args
        },
        cases,
    );
    if conclusion.has_failed() {
        let stack = world.stack();
        eprintln!("--- {} log ---\n{}", stack.runtime.arg(), stack.log());
    }
    // The cases are gone: this is the last handle, and dropping it stops the stack.
    drop(world);
    conclusion.exit()
}

/// `Ok` when `condition` holds, else an error with the message.
pub fn check(condition: bool, message: impl FnOnce() -> String) -> anyhow::Result<()> {
    if condition {
        Ok(())
    } else {
        anyhow::bail!(message())
    }
}
