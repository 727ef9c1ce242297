/** The command's name: the prefix of every message it prints (`vlfer: …`). */
export const NAME = 'vlfer';
