import { defineLabelSet } from '@vlfer/core';
import { expClipPrompts, getInstruction, promptTypeByNumber } from '@vlfer/llm-knowledge';

const labels = defineLabelSet('basic-7', ['happiness', 'sadness', 'neutral', 'anger', 'surprise', 'disgust', 'fear']);
const p = expClipPrompts(promptTypeByNumber(4), labels); // class-major: p.prompts[class][prompt]
console.log(`${p.prompts.length} classes x ${p.prompts[0]!.length} prompts`);
console.log(p.prompts[1]); // sadness: note the reference's different template order
// Any class name works: names without curated prompts get the type's templates, and say so.
const other = expClipPrompts('a_photo_of_a_face_with_an_expression_of_name', ['happy', 'pain']);
console.log(other.prompts, 'from templates:', other.fromTemplates);
console.log(getInstruction('exp-clip'));
