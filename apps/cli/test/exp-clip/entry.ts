/**
 * The tests' entry for `vlfer exp-clip …`: the real `vlfer` main (apps/cli/src/main.ts) in this process, with the `exp-clip`
 * subcommand put before the test's arguments, so each test passes the arguments a user types after `vlfer exp-clip`.
 */
process.argv.splice(2, 0, 'exp-clip');
await import('../../src/main.js');
export {};
