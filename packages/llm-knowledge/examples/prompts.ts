import { defineLabelSet } from '@vlfer/core';
import { classPrompts, getInstruction, promptTypeByNumber } from '@vlfer/llm-knowledge';

const labels = defineLabelSet('basic-7', ['happiness', 'sadness', 'neutral', 'anger', 'surprise', 'disgust', 'fear']);
const p = classPrompts(promptTypeByNumber(4), labels);
console.log(p.promptType, `${p.numClasses} classes x ${p.promptsPerClass} prompts, class-major`);
console.log(p.texts.slice(5, 10)); // sadness: note the reference's different template order
console.log(getInstruction('exp-clip'));
