import{c as o}from"./vendor-8b1d2f.js";const e=o({accessKey:"SCW4HNYQ1WKF0GBXGTJ8",secretKey:"c846a6b3-67e8-4632-b1a7-86a699fa3f08",defaultRegion:"fr-par"});console.log(e);
//# sourceMappingURL=index-4f2a9c1e.js.map
