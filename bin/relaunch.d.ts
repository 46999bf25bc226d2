export declare const HUGEPAGES: string
export interface SystemFacts {
  platform: string
  glibc: string | undefined
  thp: string | undefined
  args: readonly string[]
}
export declare function hugePagesEnv(env: Record<string, string | undefined>, sys: SystemFacts): Record<string, string | undefined> | null
export declare function systemFacts(args: readonly string[]): SystemFacts
