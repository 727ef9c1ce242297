/**
 * The tests' entry for `vlfer bench ablations …`: the real `vlfer` main (apps/cli/src/main.ts) in this process, with
 * `bench ablations` put before the test's arguments, so each test passes the arguments a user types after it.
 */
process.argv.splice(2, 0, 'bench', 'ablations');
await import('../../src/main.js');
export {};
