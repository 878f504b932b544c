/**
 * The part of the `pg` driver's API this project uses (pg ships no type
 * declarations of its own, and @types/pg is not among the dependencies).
 */
declare module 'pg' {
  export interface ClientConfig {
    host?: string;
    port?: number;
    user?: string;
    password?: string;
    database?: string;
    connectionTimeoutMillis?: number;
  }
  export interface PoolConfig extends ClientConfig {
    max?: number;
  }
  export interface QueryResult {
    rows: Record<string, unknown>[];
    rowCount: number | null;
  }
  export class Client {
    constructor(config?: ClientConfig);
    connect(): Promise<void>;
    query(sql: string, params?: unknown[]): Promise<QueryResult>;
    end(): Promise<void>;
  }
  export interface PoolClient {
    query(sql: string, params?: unknown[]): Promise<QueryResult>;
    release(): void;
  }
  export class Pool {
    constructor(config?: PoolConfig);
    connect(): Promise<PoolClient>;
    query(sql: string, params?: unknown[]): Promise<QueryResult>;
    end(): Promise<void>;
  }
}
