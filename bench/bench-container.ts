// The container every library side of the bench stands on: v2, one edu group.
import { Container } from '../lib';

export function openContainer(group: number): Container {
  const container = Container.open();
  container.addGroup(group);
  container.setIommu('v2');
  return container;
}
