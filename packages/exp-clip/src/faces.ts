import type { FaceCounts } from '@vlfer/faces/node';

/** What the faces step did: the settings in words and the counts (images/clips with 0, 1, > 1 faces). */
export interface FacesReport {
  description: string;
  counts: FaceCounts;
  /** Images left out for having no face (ids as in predictions), so UAR/WAR over the rest can be told apart. */
  skipped: string[];
}
