/**
 * The tests' entry for `vlfer hesp …`: the real `vlfer` main (apps/cli/src/main.ts) in this process, with the `hesp`
 * subcommand put before the test's arguments, so each test passes the arguments a user types after `vlfer hesp`.
 */
process.argv.splice(2, 0, 'hesp');
await import('../../src/main.js');
export {};
