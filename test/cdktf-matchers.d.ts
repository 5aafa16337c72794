// Types of the matchers Testing.setupJest() registers.
declare namespace jest {
  interface Matchers<R> {
    toHaveResource(resourceType: { tfResourceType: string }): R;
    toHaveResourceWithProperties(resourceType: { tfResourceType: string }, properties: Record<string, unknown>): R;
  }
}
