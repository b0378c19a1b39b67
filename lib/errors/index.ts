// Every error the library throws, by concern; each class has a stable `code`.
export * from './base';
export * from './device';
export * from './dma';
export * from './guest';
export * from './host';
export * from './iommu';
