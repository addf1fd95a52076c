/** A small HTTP client for the REST API, as a script or the console would call it. */
export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
}

/** One page of a keyset-paginated list. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly apiKey: string | null,
  ) {}

  withKey(apiKey: string | null): ApiClient {
    return new ApiClient(this.baseUrl, apiKey);
  }

  async request<T = any>(
    method: string,
    path: string,
    body?: unknown,
    raw?: string,
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = {};
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    if (body !== undefined || raw !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${this.baseUrl}/api/v1${path}`, {
      method,
      headers,
      body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // keep the text
    }
    return { status: response.status, body: parsed as T };
  }

  get<T = any>(path: string) {
    return this.request<T>('GET', path);
  }
  post<T = any>(path: string, body?: unknown) {
    return this.request<T>('POST', path, body);
  }
  patch<T = any>(path: string, body?: unknown) {
    return this.request<T>('PATCH', path, body);
  }

  /** Walks a keyset-paginated list to its end, returning every page as answered. */
  async pages<T = any>(path: string, limit: number): Promise<Page<T>[]> {
    const pages: Page<T>[] = [];
    const separator = path.includes('?') ? '&' : '?';
    let cursor: string | null = null;
    do {
      const url = `${path}${separator}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const response: ApiResponse<Page<T>> = await this.get<Page<T>>(url);
      if (response.status !== 200) {
        throw new Error(`GET ${url} answered ${response.status}: ${JSON.stringify(response.body)}`);
      }
      pages.push(response.body);
      cursor = response.body.nextCursor;
      if (pages.length > 1000) throw new Error(`GET ${path} never ends`);
    } while (cursor !== null);
    return pages;
  }
}
