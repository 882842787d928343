/**
 * A model description that does not describe a model latticeflow can build: the message is one
 * line that names the field and the fix. The CLI prints it and exits 2.
 */
export class SpecError extends Error {
  override name = "SpecError";
}
