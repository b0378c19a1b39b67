// The text of `vfio-spapr --help` and of `vfio-spapr COMMAND --help`.
import { GLOBAL_OPTIONS } from './args';
import type { Command, OptionSpec } from './command';
import { table } from './format';

const EXIT_STATUS = 'exit status: 0 ok, 1 failed, 2 usage error';

function optionRows(options: Record<string, OptionSpec>): string[][] {
  return Object.entries(options).map(([name, spec]) => [
    `  ${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.value ? ` ${spec.value}` : ''}`,
    spec.description,
  ]);
}

export function mainHelp(commands: readonly Command[]): string {
  return [
    'usage: vfio-spapr COMMAND [options]',
    '',
    'Drive the VFIO SPAPR TCE IOMMU of IBM POWER8/POWER9 hosts.',
    '',
    'commands:',
    table(
      ['', ''],
      commands.map((c) => [`  ${c.name}${c.synopsis ? ` ${c.synopsis}` : ''}`, c.summary]),
    )
      .split('\n')
      .slice(1)
      .join('\n'),
    '',
    'options of every command:',
    table(['', ''], optionRows(GLOBAL_OPTIONS)).split('\n').slice(1).join('\n'),
    '',
    EXIT_STATUS,
    'vfio-spapr COMMAND --help shows the options of a command.',
  ].join('\n');
}

export function commandHelp(command: Command): string {
  const options = { ...command.options, ...GLOBAL_OPTIONS };
  return [
    `usage: vfio-spapr ${command.name}${command.synopsis ? ` ${command.synopsis}` : ''} [options]`,
    '',
    `${command.summary[0].toUpperCase()}${command.summary.slice(1)}.`,
    ...command.details.map((d) => `\n${d}`),
    '',
    'options:',
    table(['', ''], optionRows(options)).split('\n').slice(1).join('\n'),
    '',
    EXIT_STATUS,
  ].join('\n');
}
