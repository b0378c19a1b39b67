// Container rows: the API version, the IOMMU types offered, groups, and what GET_INFO says
// about the default window and dynamic windows.
import {
  DDW_PAGE_SIZE_MASKS,
  DEFAULT_WINDOW,
  MAX_TABLE_LEVELS,
  MAX_WINDOWS,
} from '../../kernel-constants';
import { outcome } from '../probe';
import type { Row } from '../row';

const hex = (n: number | bigint) => `0x${n.toString(16)}`;

export const CONTAINER_ROWS: Row[] = [
  {
    id: 'container.api-version',
    section: 'container',
    title: 'VFIO_GET_API_VERSION',
    expected: '0',
    library: { relies: 'Container.open refuses another version (`VfioUnavailableError`)' },
    measure(p) {
      const fd = p.b.openContainer();
      try {
        return String(p.b.getApiVersion(fd));
      } finally {
        p.b.closeFd(fd);
      }
    },
  },
  {
    id: 'container.extensions',
    section: 'container',
    title: 'CHECK_EXTENSION of SPAPR_TCE (v1), SPAPR_TCE_v2, EEH and TYPE1',
    expected: '1, 1, 1, 0',
    library: { relies: "Container.extensions(), `vfio-spapr list`; setIommu('v2') by default" },
    measure(p) {
      const fd = p.b.openContainer();
      const c = p.c;
      try {
        return [c.VFIO_SPAPR_TCE_IOMMU, c.VFIO_SPAPR_TCE_v2_IOMMU, c.VFIO_EEH, c.VFIO_TYPE1_IOMMU]
          .map((ext) => p.b.checkExtension(fd, ext))
          .join(', ');
      } finally {
        p.b.closeFd(fd);
      }
    },
  },
  {
    id: 'container.group-viable',
    section: 'container',
    title: 'GROUP_GET_STATUS of a group whose devices are all on vfio-pci',
    expected: '0x1 (viable)',
    library: { relies: 'addGroup refuses a group that is not viable (`GroupNotViableError`)' },
    measure(p) {
      const g = p.b.openGroup(p.groups[0]);
      try {
        const flags = p.b.groupGetStatus(g);
        return `${hex(flags)}${flags === p.c.VFIO_GROUP_FLAGS_VIABLE ? ' (viable)' : ''}`;
      } finally {
        p.b.closeFd(g);
      }
    },
  },
  {
    id: 'container.v2-two-groups',
    section: 'container',
    title: 'a second group (another PHB) joins the same v2 container',
    expected: '0; each group reports 0x3 (viable, container set)',
    library: { relies: 'several groups per container: one mapping serves every device' },
    needs: { twoGroups: true },
    measure(p) {
      const fd = p.b.openContainer();
      const groups = p.groups.slice(0, 2).map((n) => p.b.openGroup(n));
      try {
        const attached = outcome(() => {
          for (const g of groups) p.b.groupSetContainer(g, fd);
          p.b.setIommu(fd, p.c.VFIO_SPAPR_TCE_v2_IOMMU);
        });
        const status = groups.map((g) => hex(p.b.groupGetStatus(g)));
        return `${attached}; each group reports ${[...new Set(status)].join(' or ')} (viable, container set)`;
      } finally {
        for (const g of groups) p.b.closeFd(g);
        p.b.closeFd(fd);
      }
    },
  },
  {
    id: 'container.v1-second-group',
    section: 'container',
    title: 'a second group joins a container already set to v1',
    expected: 'EBUSY',
    library: {
      protects:
        '`GroupLimitError` (v1 tables are not shared between PEs: use v2, or one container per group)',
    },
    needs: { twoGroups: true },
    measure(p) {
      const raw = p.open('v1', [p.groups[0]]);
      const second = p.b.openGroup(p.groups[1]);
      raw.groups.push(second);
      return outcome(() => p.b.groupSetContainer(second, raw.fd));
    },
  },
  {
    id: 'info.ddw-flag',
    section: 'container',
    title: 'SPAPR_TCE_GET_INFO on v2: flags',
    expected: '0x1 (DDW)',
    library: { relies: 'Container.info().ddw: dynamic windows are offered' },
    measure(p) {
      const flags = p.b.spaprTceGetInfo(p.v2()).flags;
      return `${hex(flags)}${flags & p.c.VFIO_IOMMU_SPAPR_INFO_DDW ? ' (DDW)' : ''}`;
    },
  },
  {
    id: 'info.dma32-window',
    section: 'container',
    title: 'SPAPR_TCE_GET_INFO: the default 32-bit window',
    expected: `start ${hex(DEFAULT_WINDOW.start)}, size ${hex(DEFAULT_WINDOW.size)} (2 GiB)`,
    library: { relies: "the books' default window; its table's cost (`DEFAULT_WINDOW`)" },
    measure(p) {
      const info = p.b.spaprTceGetInfo(p.v2());
      const size = info.dma32WindowSize;
      return `start ${hex(info.dma32WindowStart)}, size ${hex(size)}${size === 1n << 31n ? ' (2 GiB)' : ''}`;
    },
  },
  {
    id: 'info.page-sizes',
    section: 'container',
    title: 'SPAPR_TCE_GET_INFO on v2: IOMMU page sizes (pgsizes)',
    expected: `${hex(DDW_PAGE_SIZE_MASKS[8])} on POWER8 (PHB3: 4K 64K 16M 256M), ${hex(DDW_PAGE_SIZE_MASKS[9])} on POWER9 (PHB4: 4K 64K 2M 1G)`,
    expectedOn: (host) =>
      host.power === 8 || host.power === 9
        ? hex(DDW_PAGE_SIZE_MASKS[host.power])
        : 'a mask with 4K and 64K (0x11000)',
    library: { relies: 'createWindow accepts exactly these (`PageSizeError` otherwise)' },
    needs: { ddw: true },
    measure(p) {
      const mask = p.b.spaprTceGetInfo(p.v2()).ddw.pgsizes;
      if (p.host.power === 8 || p.host.power === 9) return hex(mask);
      return (mask & 0x11000n) === 0x11000n ? 'a mask with 4K and 64K (0x11000)' : hex(mask);
    },
  },
  {
    id: 'info.max-windows',
    section: 'container',
    title: 'SPAPR_TCE_GET_INFO on v2: max dynamic windows',
    expected: String(MAX_WINDOWS),
    library: { relies: 'createWindow refuses a window past it (`WindowLimitError`)' },
    needs: { ddw: true },
    measure: (p) => String(p.b.spaprTceGetInfo(p.v2()).ddw.maxDynamicWindows),
  },
  {
    id: 'info.levels',
    section: 'container',
    title: 'SPAPR_TCE_GET_INFO on v2: TCE table levels',
    expected: String(MAX_TABLE_LEVELS),
    library: { relies: 'createWindow refuses more levels (`ArgumentRangeError`)' },
    needs: { ddw: true },
    measure: (p) => String(p.b.spaprTceGetInfo(p.v2()).ddw.levels),
  },
  {
    id: 'info.v1-no-ddw',
    section: 'container',
    title: 'SPAPR_TCE_GET_INFO on v1: flags',
    expected: '0x0',
    library: { relies: 'Container.info().ddw is null on v1: no dynamic windows there' },
    measure: (p) => hex(p.b.spaprTceGetInfo(p.v1()).flags),
  },
];
