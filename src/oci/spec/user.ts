// Who the container's first process runs as: uid, gid and supplementary
// groups from the CRI security context or the image's User, with names looked
// up in the image's own /etc/passwd and /etc/group (read inside the rootfs,
// bounded).

import { SupplementalGroupsPolicy, type LinuxContainerSecurityContext } from '../../proto/cri.js';
import { invalidField, quote, unsatisfiable } from './errors.js';

/** Largest /etc/passwd or /etc/group read from an image. */
const maxAccountFileBytes = 1024 * 1024;

/** The largest valid id; 2^32-1 is (uid_t)-1, "no id". */
const maxId = 0xfffffffe;

export type ReadFileInRoot = (rootfs: string, path: string, maxBytes: number) => Promise<Buffer | undefined>;

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** From /etc/passwd; "/" when the user has no entry. */
  home: string;
  /** The user's name when /etc/passwd knows it. */
  name?: string;
}

/** Parses /etc/passwd, skipping comments and malformed lines as libc does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 4) continue;
    const uid = parseId(f[2] ?? '');
    const gid = parseId(f[3] ?? '');
    if (!f[0] || uid === undefined || gid === undefined) continue;
    entries.push({ name: f[0], uid, gid, home: f[5] || '/' });
  }
  return entries;
}

/** Parses /etc/group. */
function parseGroup(text: string): GroupEntry[] {
  const entries: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 3) continue;
    const gid = parseId(f[2] ?? '');
    if (!f[0] || gid === undefined) continue;
    const members = (f[3] ?? '')
      .split(',')
      .map((m) => m.trim())
      .filter((m) => m !== '');
    entries.push({ name: f[0], gid, members });
  }
  return entries;
}

/** A decimal id within range, or undefined. */
function parseId(text: string): number | undefined {
  if (!/^\d{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= maxId ? n : undefined;
}

/** The image's account files, read once each and only when needed. */
class AccountFiles {
  private passwd?: Promise<PasswdEntry[] | undefined>;
  private group?: Promise<GroupEntry[] | undefined>;

  constructor(
    private readonly rootfs: string,
    private readonly read: ReadFileInRoot,
  ) {}

  users(): Promise<PasswdEntry[] | undefined> {
    this.passwd ??= this.load('/etc/passwd').then((t) => (t === undefined ? undefined : parsePasswd(t)));
    return this.passwd;
  }

  groups(): Promise<GroupEntry[] | undefined> {
    this.group ??= this.load('/etc/group').then((t) => (t === undefined ? undefined : parseGroup(t)));
    return this.group;
  }

  private async load(path: string): Promise<string | undefined> {
    let data: Buffer | undefined;
    try {
      data = await this.read(this.rootfs, path, maxAccountFileBytes + 1);
    } catch (err) {
      throw unsatisfiable(`image ${path}`, `cannot be read: ${(err as Error).message}`, err);
    }
    if (data === undefined) return undefined;
    if (data.length > maxAccountFileBytes) {
      throw unsatisfiable(`image ${path}`, `is larger than ${maxAccountFileBytes} bytes`);
    }
    return data.toString('utf8');
  }
}

export interface UserInput {
  securityContext: LinuxContainerSecurityContext | null;
  /** The image config's User: "", "name", "uid", "name:group", "uid:gid". */
  imageUser: string;
  rootfs: string;
  readFileInRoot: ReadFileInRoot;
}

const sc = 'config.linux.security_context';

/**
 * run_as_user, else run_as_username, else the image's User; run_as_group
 * replaces the gid; supplementary groups are the primary gid, the image's
 * /etc/group memberships (unless the policy is Strict) and supplemental_groups.
 */
export async function resolveUser(input: UserInput): Promise<ResolvedUser> {
  const ctx = input.securityContext;
  const files = new AccountFiles(input.rootfs, input.readFileInRoot);
  const runAsUser = ctx?.runAsUser ?? null;
  const runAsUsername = ctx?.runAsUsername ?? '';
  const runAsGroup = ctx?.runAsGroup ?? null;

  if (runAsUser !== null && runAsUsername !== '') {
    throw invalidField(`${sc}.run_as_username`, 'must not be set together with run_as_user');
  }
  if (runAsGroup !== null && runAsUser === null && runAsUsername === '') {
    throw invalidField(`${sc}.run_as_group`, 'is set without run_as_user or run_as_username');
  }

  // /etc/group is read beside /etc/passwd rather than after it (errors surface where it is used).
  if (ctx?.supplementalGroupsPolicy !== SupplementalGroupsPolicy.Strict) files.groups().catch(() => undefined);

  let user: { uid: number; gid: number; name?: string; home: string };
  if (runAsUser !== null) {
    user = await userById(checkedId(`${sc}.run_as_user`, runAsUser.value), files);
  } else if (runAsUsername !== '') {
    user = await userByName(`${sc}.run_as_username`, runAsUsername, files);
  } else {
    user = await userFromImage(input.imageUser, files);
  }
  if (runAsGroup !== null) user.gid = checkedId(`${sc}.run_as_group`, runAsGroup.value);

  // The primary gid leads the supplementary list whatever the policy, as in
  // containerd and CRI-O: `id` lists it, and its access survives a change of egid.
  const additional: number[] = [user.gid];
  if (ctx?.supplementalGroupsPolicy !== SupplementalGroupsPolicy.Strict && user.name !== undefined) {
    const name = user.name;
    for (const g of (await files.groups()) ?? []) {
      if (g.members.includes(name)) additional.push(g.gid);
    }
  }
  (ctx?.supplementalGroups ?? []).forEach((g, i) => additional.push(checkedId(`${sc}.supplemental_groups[${i}]`, g)));

  return { ...user, additionalGids: [...new Set(additional)] };
}

function checkedId(field: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > maxId) {
    throw invalidField(field, `${value} is not a valid id (0 to ${maxId})`);
  }
  return value;
}

async function userById(uid: number, files: AccountFiles): Promise<{ uid: number; gid: number; name?: string; home: string }> {
  const entry = (await files.users())?.find((u) => u.uid === uid);
  return entry ? { uid, gid: entry.gid, name: entry.name, home: entry.home } : { uid, gid: 0, home: '/' };
}

async function userByName(field: string, name: string, files: AccountFiles): Promise<{ uid: number; gid: number; name: string; home: string }> {
  const users = await files.users();
  if (users === undefined) throw invalidField(field, `user ${quote(name)} not found: the image has no /etc/passwd`);
  const entry = users.find((u) => u.name === name);
  if (!entry) throw invalidField(field, `user ${quote(name)} not found in the image's /etc/passwd`);
  return { uid: entry.uid, gid: entry.gid, name: entry.name, home: entry.home };
}

async function userFromImage(spec: string, files: AccountFiles): Promise<{ uid: number; gid: number; name?: string; home: string }> {
  const field = 'image config User';
  if (spec === '') return userById(0, files);
  const colon = spec.indexOf(':');
  const userPart = colon < 0 ? spec : spec.slice(0, colon);
  const groupPart = colon < 0 ? undefined : spec.slice(colon + 1);
  if (userPart === '') throw invalidField(field, `${quote(spec)} has an empty user`);
  const uid = parseId(userPart);
  const user = uid !== undefined ? await userById(uid, files) : await userByName(field, userPart, files);
  if (groupPart !== undefined) {
    if (groupPart === '') throw invalidField(field, `${quote(spec)} has an empty group`);
    const gid = parseId(groupPart);
    if (gid !== undefined) {
      user.gid = gid;
    } else {
      const groups = await files.groups();
      const entry = groups?.find((g) => g.name === groupPart);
      if (!entry) throw invalidField(field, `group ${quote(groupPart)} not found in the image's /etc/group`);
      user.gid = entry.gid;
    }
  }
  return user;
}
