/**
 * The application's own route table, read from its OpenAPI document: tests generated from it cover a new
 * endpoint without anyone remembering to add it.
 */
export interface Route {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  /** OpenAPI path with `{param}` placeholders, e.g. `/api/v1/sites/{id}`. */
  path: string;
  permission: string | null;
  public: boolean;
  hasBody: boolean;
  pathParams: string[];
  /** The request body schema's property names and types, when the route takes a JSON body. */
  bodyProperties: Record<string, { type?: string; format?: string }>;
}

export async function routeTable(baseUrl: string): Promise<Route[]> {
  const document = (await (await fetch(`${baseUrl}/api/docs/openapi.json`)).json()) as any;
  const routes: Route[] = [];
  for (const [path, operations] of Object.entries<any>(document.paths)) {
    for (const [method, operation] of Object.entries<any>(operations)) {
      if (!['get', 'post', 'patch', 'put', 'delete'].includes(method)) continue;
      const permission = (operation['x-medfleet-permission'] as string | undefined) ?? null;
      const schemaRef = operation.requestBody?.content?.['application/json']?.schema?.$ref as
        string | undefined;
      const schema = schemaRef
        ? document.components.schemas[schemaRef.split('/').pop() as string]
        : undefined;
      routes.push({
        method: method.toUpperCase() as Route['method'],
        path,
        permission,
        public: operation['x-medfleet-public'] === true,
        hasBody: operation.requestBody !== undefined,
        pathParams: (operation.parameters ?? []).filter((p: any) => p.in === 'path').map((p: any) => p.name),
        bodyProperties: schema?.properties ?? {},
      });
    }
  }
  return routes;
}

/** Fills `{param}` placeholders. */
export function fillPath(path: string, values: Record<string, string>): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`no value for {${name}} in ${path}`);
    return encodeURIComponent(value);
  });
}
