/** What a detector returns and the aligner consumes; coordinates are pixels of the original image. */

export type Point = [number, number];

/**
 * Five landmarks in the ArcFace template's order: left eye, right eye, nose tip, left mouth
 * corner, right mouth corner, where left/right are as seen in the image (smaller x first).
 */
export type Landmarks5 = [Point, Point, Point, Point, Point];

export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface Face {
  box: Box;
  /** Detector confidence in [0, 1]. */
  score: number;
  landmarks: Landmarks5;
  /**
   * The 68 iBUG points (0-based: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67) when
   * the detector finds them (face-api's landmark net); dlib's chip alignment fits all of its 33
   * inner points instead of 5, as dlib's get_face_chip_details does.
   */
  landmarks68?: Point[];
}
