// Which processes hold a file open, from /proc/PID/fd. `unbind` asks before it writes: the
// kernel's vfio-pci unbind waits, uninterruptibly, until every fd of the group is closed.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Opener {
  pid: number;
  /** /proc/PID/comm */
  command: string;
}

export function openersOf(procRoot: string, target: string): Opener[] {
  let pids: string[];
  try {
    pids = fs.readdirSync(procRoot).filter((name) => /^\d+$/.test(name));
  } catch {
    return [];
  }
  const openers: Opener[] = [];
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = fs.readdirSync(path.join(procRoot, pid, 'fd'));
    } catch {
      continue; // gone, or not ours to read
    }
    const holds = fds.some((fd) => {
      try {
        return fs.readlinkSync(path.join(procRoot, pid, 'fd', fd)) === target;
      } catch {
        return false;
      }
    });
    if (!holds) continue;
    let command = '?';
    try {
      command = fs.readFileSync(path.join(procRoot, pid, 'comm'), 'utf8').trim();
    } catch {
      // exited meanwhile
    }
    openers.push({ pid: Number(pid), command });
  }
  return openers;
}
