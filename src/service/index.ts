/** The recognition service: enroll / identify / verify on a gallery store, API keys, portable galleries. */
export * from './service.js';
export { ServiceError, type ServiceErrorKind, type ImageFailure } from './errors.js';
export { checkGalleryName, checkSubjectName, checkMetadata, GALLERY_NAME } from './names.js';
export { sniffImage, requireImage, type ImageType } from './sniff.js';
export { KeyStore, keysFileFor, KEY_KINDS, type ApiKey, type KeyKind } from './keys.js';
export { exportGallery, importGallery, EXPORT_FORMAT, EXPORT_VERSION } from './portable.js';
