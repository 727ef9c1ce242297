/** The tests' entry for `vlfer bench paper …`: the real `vlfer` main with `bench paper` before the test's arguments. */
process.argv.splice(2, 0, 'bench', 'paper');
await import('../../src/main.js');
export {};
