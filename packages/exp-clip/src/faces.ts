import type { FaceCounts } from '@vlfer/faces/node';

/** What the faces step did: the settings in words and the counts (images/clips with 0, 1, > 1 faces). */
export interface FacesReport { description: string; counts: FaceCounts }
